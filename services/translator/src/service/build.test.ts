import assert from "node:assert/strict";
import { test } from "node:test";
import { contentHash, decodeResource, EncodeError, TypeUrl, versionOf } from "@waymark/envoy-proto";
import type { TranslationOutput, WaypointOutput } from "../translate/types.ts";
import { buildSnapshots, EncodeCache, SnapshotError } from "./build.ts";

const cluster = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  json: { name, type: "STATIC", connectTimeout: "1s", ...extra },
});
const waypoint = (ns: string, clusters: ReturnType<typeof cluster>[]): WaypointOutput => ({
  waypoint: { namespace: ns, name: "wp" },
  resources: {
    [TypeUrl.cluster]: clusters,
    [TypeUrl.endpoint]: [],
    [TypeUrl.listener]: [],
    [TypeUrl.route]: [],
  },
});
const output = (...waypoints: WaypointOutput[]): TranslationOutput => ({ waypoints, statuses: [] });

test("resources are encoded, hashed and versioned from content", () => {
  const { snapshots, failures } = buildSnapshots(output(waypoint("a", [cluster("c1"), cluster("c2")])));
  assert.deepEqual(failures, []);
  const s = snapshots[0];
  assert.ok(s);
  assert.equal(s.key, "manifest.a.wp");
  const byName = s.resources[TypeUrl.cluster] ?? {};
  assert.deepEqual(Object.keys(byName), ["c1", "c2"]);
  for (const [name, hash] of Object.entries(byName)) {
    const bytes = s.blobs.get(hash);
    assert.ok(bytes);
    assert.equal(contentHash(bytes), hash);
    assert.equal((decodeResource(TypeUrl.cluster, bytes) as { name: string }).name, name);
  }
  assert.equal(s.versions[TypeUrl.cluster], versionOf(byName));
  assert.equal(s.version, versionOf(s.versions));
  assert.deepEqual(Object.keys(s.versions), [
    TypeUrl.cluster,
    TypeUrl.endpoint,
    TypeUrl.listener,
    TypeUrl.route,
  ]);
});

test("a bad resource fails its waypoint only, naming the resource", () => {
  const { snapshots, failures } = buildSnapshots(
    output(waypoint("a", [cluster("ok"), cluster("bad", { bogus: 1 })]), waypoint("b", [cluster("ok")])),
  );
  assert.deepEqual(
    snapshots.map((s) => s.key),
    ["manifest.b.wp"],
  );
  assert.equal(failures.length, 1);
  assert.equal(failures[0]?.key, "manifest.a.wp");
  assert.equal(failures[0]?.resource, "bad");
  assert.equal(failures[0]?.typeUrl, TypeUrl.cluster);
  assert.ok(failures[0]?.error instanceof EncodeError);
});

test("duplicate names within a type fail the waypoint", () => {
  const { failures } = buildSnapshots(output(waypoint("a", [cluster("x"), cluster("x")])));
  assert.ok(failures[0]?.error instanceof SnapshotError);
});

test("the encode cache gives the same result and re-encodes changed resources", () => {
  const cache = new EncodeCache();
  const a = buildSnapshots(output(waypoint("a", [cluster("c1")])), cache).snapshots[0];
  const b = buildSnapshots(output(waypoint("a", [cluster("c1")])), cache).snapshots[0];
  const c = buildSnapshots(output(waypoint("a", [cluster("c1", { connectTimeout: "2s" })])), cache)
    .snapshots[0];
  const fresh = buildSnapshots(output(waypoint("a", [cluster("c1", { connectTimeout: "2s" })]))).snapshots[0];
  assert.equal(a?.version, b?.version);
  assert.notEqual(b?.version, c?.version);
  assert.equal(c?.version, fresh?.version);
});

test("an unchanged waypoint output reuses its snapshot; its encodings outlive the builds that skipped it", () => {
  const cache = new EncodeCache();
  const a = waypoint("a", [cluster("c1")]);
  const b = waypoint("b", [cluster("c1")]);
  const first = buildSnapshots(output(a, b), cache).snapshots;
  // The memo hands back the same object for a waypoint the change did not touch: nothing is rebuilt.
  const second = buildSnapshots(output(a, waypoint("b", [cluster("c2")])), cache).snapshots;
  assert.equal(second[0], first[0]);
  assert.notEqual(second[1]?.version, first[1]?.version);
  // A later change to the skipped waypoint still finds its old encodings, and matches a fresh build.
  const changed = waypoint("a", [cluster("c1"), cluster("c3")]);
  const third = buildSnapshots(output(changed, b), cache).snapshots;
  const fresh = buildSnapshots(output(changed, b)).snapshots;
  assert.equal(third[0]?.version, fresh[0]?.version);
  assert.equal(
    third[0]?.blobs.get(first[0]!.resources[TypeUrl.cluster]!["c1"]!),
    first[0]!.blobs.values().next().value,
  );
  // Another size limit builds again: a reused snapshot never skips the limit's check.
  const limited = buildSnapshots(output(changed, b), cache, { maxValueBytes: 8 });
  assert.equal(limited.snapshots.length, 0);
  assert.equal(limited.failures.length, 2);
});

test("a resource or manifest larger than a NATS message fails its waypoint alone", () => {
  const big = cluster("big", { metadata: { filterMetadata: { pad: { text: "x".repeat(5000) } } } });
  const { snapshots, failures } = buildSnapshots(
    output(waypoint("a", [cluster("c1")]), waypoint("b", [big])),
    new EncodeCache(),
    { maxValueBytes: 4096 },
  );
  assert.deepEqual(
    snapshots.map((s) => s.waypoint.namespace),
    ["a"],
  );
  assert.equal(failures.length, 1);
  assert.equal(failures[0]?.resource, "big");
  assert.match(
    String(failures[0]?.error),
    /encodes to \d+ bytes, more than a NATS message holds \(4096 bytes/,
  );
  // Many small resources: each fits, the manifest does not.
  const many = Array.from({ length: 200 }, (_, i) => cluster(`cluster-with-a-long-name-${i}`));
  const m = buildSnapshots(output(waypoint("c", many)), new EncodeCache(), { maxValueBytes: 8192 });
  assert.equal(m.snapshots.length, 0);
  assert.match(String(m.failures[0]?.error), /manifest would be about \d+ bytes/);
});
