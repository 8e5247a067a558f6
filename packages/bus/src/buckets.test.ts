import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Bucket, type WaypointManifest } from "@waymark/api";
import {
  bucketHistory,
  buckets,
  isSourceFileKey,
  keyFilters,
  manifestHashes,
  maxValueBytes,
  NATS_PUT_OVERHEAD,
  SOURCE_FILE_FILTER,
  sourceFileKey,
  sourceFileRef,
} from "./buckets.ts";

test("every bucket is in the table, and the kinds of entry of one bucket agree on its history", () => {
  assert.deepEqual(new Set(Object.values(buckets).map((e) => e.bucket)), new Set(Object.values(Bucket)));
  for (const e of Object.values(buckets)) assert.equal(bucketHistory[e.bucket], e.history, e.bucket);
  assert.equal(bucketHistory[Bucket.objects], 5);
});

test("keys: one per object, per waypoint, per blob; the two kinds of wm-xds entry have their own filters", () => {
  const ref = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "ns.1", name: "r.a" };
  assert.equal(buckets.objects.key(ref), "gateway_networking_k8s_io.HTTPRoute.ns_1.r_a");
  assert.equal(buckets.status.key(ref), buckets.objects.key(ref));
  const w = { namespace: "httpbin", name: "kgateway-waypoint" };
  assert.equal(buckets.manifests.key(w), "manifest.httpbin.kgateway-waypoint");
  assert.equal(buckets.infra.key(w), "httpbin.kgateway-waypoint");
  assert.equal(buckets.blobs.key("ab12"), "blob.ab12");
  assert.equal(buckets.issuer.key(), "kubernetes");
  assert.equal(keyFilters.manifests, "manifest.>");
  assert.equal(keyFilters.blobs, "blob.>");
  assert.equal(buckets.blobs.encoding, "bytes");
});

test("the watcher's SourceFile entries: their key, and the translator's test for it", () => {
  assert.equal(sourceFileKey("a/svc.yaml"), "waymark_dev.SourceFile._.a/svc_yaml");
  assert.equal(sourceFileKey("with space.yaml"), "waymark_dev.SourceFile._.with_space_yaml");
  assert.deepEqual(sourceFileRef("with space.yaml"), {
    group: "waymark.dev",
    kind: "SourceFile",
    namespace: "",
    name: "with space.yaml",
  });
  assert.equal(SOURCE_FILE_FILTER, "waymark_dev.SourceFile.>");
  assert.ok(isSourceFileKey(sourceFileKey("gateways.yaml")));
  assert.ok(!isSourceFileKey(buckets.status.key({ group: "", kind: "Service", namespace: "a", name: "b" })));
  // A kind whose name starts like SourceFile is another kind.
  assert.ok(!isSourceFileKey("waymark_dev.SourceFileSet._.x"));
});

test("manifestHashes names every blob once", () => {
  const m: Pick<WaypointManifest, "resources"> = {
    resources: { c: { a: "h1", b: "h2" }, r: { x: "h1" }, l: {} },
  };
  assert.deepEqual([...manifestHashes(m)].sort(), ["h1", "h2"]);
});

test("the largest value of a KV put leaves room for its subject and headers", () => {
  assert.equal(NATS_PUT_OVERHEAD, 1024);
  assert.equal(maxValueBytes(1024 * 1024), 1024 * 1024 - 1024);
  assert.equal(maxValueBytes(512), 0);
});

test("docs/architecture.md shows this table", () => {
  const doc = readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "architecture.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Buckets"), doc.indexOf("\n## ", doc.indexOf("## Buckets") + 1));
  const rows = section
    .split("\n")
    .filter((l) => l.startsWith("| `buckets."))
    .map((l) =>
      l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  const shown = rows.map(([entries, bucket, , , flow]) => ({ entries, bucket, flow }));
  const table = Object.entries(buckets).map(([name, e]) => ({
    entries: `\`buckets.${name}\``,
    bucket: `\`${e.bucket}\``,
    flow: e.flow,
  }));
  assert.deepEqual(shown, table);
});
