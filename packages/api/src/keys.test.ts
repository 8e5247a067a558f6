import assert from "node:assert/strict";
import { test } from "node:test";
import { manifestKey, objectKey } from "./index.ts";

test("object keys are one token per field and unique for dotted names", () => {
  assert.equal(
    objectKey({ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "ns", name: "a.b" }),
    "gateway_networking_k8s_io.HTTPRoute.ns.a_b",
  );
  assert.equal(
    objectKey({ group: "", kind: "Namespace", namespace: "", name: "httpbin" }),
    "core.Namespace._.httpbin",
  );
  assert.notEqual(
    objectKey({ group: "", kind: "Service", namespace: "a", name: "b.c" }),
    objectKey({ group: "", kind: "Service", namespace: "a.b", name: "c" }),
  );
});

test("manifest keys name the waypoint", () => {
  assert.equal(
    manifestKey({ namespace: "httpbin", name: "kgateway-waypoint" }),
    "manifest.httpbin.kgateway-waypoint",
  );
});
