// ServiceEntries reach the translator with their status: the addresses Istio allocates live there
// (kgateway#14390), and Waymark writes no ServiceEntry status of its own.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { lookupKind } from "../kinds.ts";
import { findResource, WATCHED } from "./resources.ts";
import { publishedForm } from "./source.ts";

test("a ServiceEntry is watched, not a status writer, and published with its status", () => {
  const r = findResource(WATCHED, "networking.istio.io", "ServiceEntry");
  assert.ok(r, "ServiceEntry is watched");
  assert.equal(r.plural, "serviceentries");
  assert.equal(r.statusWriter, undefined);
  const se = {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: "ext", namespace: "ns", resourceVersion: "7" },
    spec: { hosts: ["ext.example.com"] },
    status: { addresses: [{ host: "ext.example.com", value: "240.240.0.1" }] },
  } as KubeObject;
  const out = publishedForm(se, r);
  assert.deepEqual(out.status, se.status);
  assert.equal(out.metadata.resourceVersion, undefined);
});

test("the directory source reads ServiceEntries of v1, v1beta1 and v1alpha3", () => {
  for (const v of ["v1", "v1beta1", "v1alpha3"])
    assert.ok(lookupKind(`networking.istio.io/${v}`, "ServiceEntry"), v);
  assert.equal(lookupKind("networking.istio.io/v1", "VirtualService"), undefined);
});
