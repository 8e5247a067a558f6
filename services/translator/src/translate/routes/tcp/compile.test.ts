import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { indexObjects } from "../../input/objects.ts";
import { compileStreamRoute, hostnameProblem, olderFirst } from "./compile.ts";

const service = (name: string, port: number): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "ns" },
  spec: { clusterIP: "10.0.0.1", ports: [{ name: "tcp", port }] },
});
const index = indexObjects(
  new Map([
    ["a", service("a", 5432)],
    ["b", service("b", 5432)],
  ]),
);
const route = (kind: string, spec: Record<string, unknown>, created?: string): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind,
  metadata: {
    name: `r-${created ?? "x"}`,
    namespace: "ns",
    ...(created ? { creationTimestamp: created } : {}),
  },
  spec,
});

test("hostnames: RFC 1123 lower case, a leading *. label, no IP", () => {
  assert.equal(hostnameProblem("db.example.com"), undefined);
  assert.equal(hostnameProblem("*.example.com"), undefined);
  assert.match(hostnameProblem("10.1.2.3") ?? "", /IP address/);
  assert.match(hostnameProblem("a.*.example.com") ?? "", /wildcard/);
  assert.match(hostnameProblem("*example.com") ?? "", /wildcard/);
  assert.match(hostnameProblem("Db.example.com") ?? "", /RFC 1123/);
  assert.match(hostnameProblem("") ?? "", /1 to 253/);
});

test("weights add up per cluster; an unresolved backend's weight is a refused share", () => {
  const r = compileStreamRoute(
    route("TCPRoute", {
      rules: [
        {
          backendRefs: [
            { name: "a", port: 5432, weight: 2 },
            { name: "a", port: 5432, weight: 1 },
            { name: "b", port: 5432, weight: 0 },
            { name: "gone", port: 5432, weight: 5 },
          ],
        },
      ],
    }),
    "TCPRoute",
    index,
  );
  assert.deepEqual(
    r.backends.map((b) => [b.target.cluster, b.weight]),
    [["kube_ns_a_5432", 3]],
  );
  assert.equal(r.refusedWeight, 5);
  assert.equal(r.refProblems[0]?.reason, "BackendNotFound");
  assert.deepEqual(r.unsupported, []);
});

test("a TLSRoute needs hostnames; a second rule is reported", () => {
  const none = compileStreamRoute(
    route("TLSRoute", { rules: [{ backendRefs: [{ name: "a", port: 5432 }] }] }),
    "TLSRoute",
    index,
  );
  assert.match(none.unsupported[0] ?? "", /spec\.hostnames is empty/);
  const two = compileStreamRoute(
    route("TLSRoute", { hostnames: ["a.example.com", "a.example.com"], rules: [{}, {}] }),
    "TLSRoute",
    index,
  );
  assert.deepEqual(two.hostnames, ["a.example.com"]);
  assert.match(two.unsupported[0] ?? "", /2 rules/);
  assert.match(two.refProblems[0]?.message ?? "", /no backendRefs/);
});

test("the older route sorts first; without a timestamp, the newest", () => {
  const old = compileStreamRoute(route("TCPRoute", {}, "2026-01-01T00:00:00Z"), "TCPRoute", index);
  const young = compileStreamRoute(route("TCPRoute", {}, "2026-02-01T00:00:00Z"), "TCPRoute", index);
  const undated = compileStreamRoute(route("TCPRoute", {}), "TCPRoute", index);
  assert.deepEqual([undated, young, old].sort(olderFirst), [old, young, undated]);
});

test("a weight beyond the CRD's 0..1000000 is reported, not sent to Envoy", () => {
  const r = compileStreamRoute(
    route("TCPRoute", { rules: [{ backendRefs: [{ name: "a", port: 5432, weight: 2 ** 32 + 5 }] }] }),
    "TCPRoute",
    index,
  );
  assert.match(
    r.unsupported[0] ?? "",
    /backendRefs\[0\]\.weight 4294967301 is not an integer from 0 to 1000000/,
  );
  assert.deepEqual(r.backends, []);
});
