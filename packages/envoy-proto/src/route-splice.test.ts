import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { decodeResource, EncodeError, encodeResource, encodeRouteConfiguration, TypeUrl } from "./index.ts";

const route = (i: number): JsonObject => ({
  name: `r${i}`,
  match: { prefix: `/p${i}` },
  route: { cluster: `c${i % 3}`, timeout: "5s" },
  requestHeadersToAdd: [
    { header: { key: "app", value: `v${i}` }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
  ],
});

const other = route(99);
const config = (routes: JsonObject[]): JsonObject => ({
  name: "http.8000.svc.ns",
  virtualHosts: [
    { name: "a", domains: ["*"], routes },
    { name: "b", domains: ["b.example"], routes: [other], includeRequestAttemptCount: true },
  ],
  validateClusters: false,
});

/** Counts the routes encoded: a miss is a route whose bytes were not cached. */
function countingCache() {
  const map = new Map<JsonObject, Uint8Array>();
  let misses = 0;
  return {
    cache: {
      get: (k: JsonObject) => {
        const v = map.get(k);
        if (!v) misses++;
        return v;
      },
      set: (k: JsonObject, v: Uint8Array) => map.set(k, v) && undefined,
    } as unknown as WeakMap<JsonObject, Uint8Array>,
    misses: () => misses,
  };
}

test("a spliced RouteConfiguration decodes to what the whole encoding does", () => {
  const json = config(Array.from({ length: 50 }, (_, i) => route(i)));
  const spliced = encodeRouteConfiguration("rc", json, new WeakMap());
  assert.deepEqual(
    decodeResource(TypeUrl.route, spliced),
    decodeResource(TypeUrl.route, encodeResource(TypeUrl.route, "rc", json)),
  );
  assert.deepEqual(decodeResource(TypeUrl.route, spliced), json);
});

test("one changed route is the only one encoded again", () => {
  const routes = Array.from({ length: 200 }, (_, i) => route(i));
  const { cache, misses } = countingCache();
  const first = encodeRouteConfiguration("rc", config(routes), cache);
  assert.equal(misses(), 201);
  const next = [...routes];
  next[123] = { ...route(123), match: { prefix: "/changed" } };
  const second = encodeRouteConfiguration("rc", config(next), cache);
  assert.equal(misses() - 201, 1, "only the changed route");
  assert.notDeepEqual(second, first);
  assert.deepEqual(decodeResource(TypeUrl.route, second), config(next));
  // The same JSON gives the same bytes, cached or not.
  assert.deepEqual(encodeRouteConfiguration("rc", config(next), new WeakMap()), second);
});

test("bad input is an EncodeError naming the RouteConfiguration, as with a whole encoding", () => {
  const bad: JsonObject[] = [
    config([{ ...route(1), mach: {} }]),
    { name: "rc", virtualHosts: "not a list" },
    { name: "rc", virtualHosts: [{ name: "a", domains: ["*"], routes: { not: "a list" } }] },
    { name: "rc", virtualHosts: [{ name: "a", domains: ["*"], routes: ["not a route"] }] },
    { name: "rc", virtualHosts: [], extra: 1 },
  ];
  for (const json of bad) {
    assert.throws(() => encodeResource(TypeUrl.route, "rc", json), EncodeError);
    assert.throws(
      () => encodeRouteConfiguration("rc", json, new WeakMap()),
      (e: unknown) => e instanceof EncodeError && e.message.includes("RouteConfiguration rc"),
      JSON.stringify(json),
    );
  }
});

test("the proto field name and empty lists are encoded as a whole encoding does", () => {
  for (const json of [
    { name: "rc", virtual_hosts: [{ name: "a", domains: ["*"], routes: [route(1)] }] },
    { name: "rc", virtualHosts: [] },
    { name: "rc", virtualHosts: [{ name: "a", domains: ["*"] }] },
    { name: "rc" },
  ] as JsonObject[]) {
    assert.deepEqual(
      decodeResource(TypeUrl.route, encodeRouteConfiguration("rc", json, new WeakMap())),
      decodeResource(TypeUrl.route, encodeResource(TypeUrl.route, "rc", json)),
    );
  }
});
