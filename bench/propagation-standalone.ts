// Time from a change of a file in the watched directory to the waypoint Envoy's ACK of the route
// configuration that contains it, over N edits (default 20). The ACK time is the xds-server's record
// (wm-proxies `ackedAt`) of the RDS version that the translator's manifest names after the edit.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Bucket, createLogger, manifestKey, type ProxyRecord, type WaypointManifest } from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { waitFor } from "@waymark/testing";
import { GUIDE_WAYPOINT, startGuideStack } from "../test/lib/guide-stack.ts";
import { summarize } from "./stats.ts";

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 20);
  const guide = await startGuideStack("bench-propagation", { bindAddress: "127.0.0.1" });
  const { stack, dir } = guide;
  const waypoint = GUIDE_WAYPOINT;
  const nc = await connectBus({ servers: stack.nats.url, name: "bench", log: createLogger("bench") });
  try {
    const xds = await openBucket(nc, Bucket.xds);
    const proxies = await openBucket(nc, Bucket.proxies);
    const file = join(dir, "30-httpbin3-route.yaml");
    const original = readFileSync(file, "utf8");
    const samples: number[] = [];
    let lastVersion = (await getJson<WaypointManifest>(xds, manifestKey(waypoint)))?.versions[TypeUrl.route];
    for (let i = 0; i < n; i++) {
      const t0 = Date.now();
      writeFileSync(file, original.replace("value: httpbin3", `value: httpbin3-${i}`));
      const version = await waitFor(
        "new manifest",
        async () => {
          const v = (await getJson<WaypointManifest>(xds, manifestKey(waypoint)))?.versions[TypeUrl.route];
          return v !== lastVersion ? v : undefined;
        },
        10_000,
        2,
      );
      lastVersion = version;
      const ackedAt = await waitFor(
        "ACK of the new RDS version",
        async () => {
          for (const k of await listKeys(proxies)) {
            const r = await getJson<ProxyRecord>(proxies, k);
            const t = r?.types[TypeUrl.route];
            if (t?.ackedVersion === version && t.ackedAt) return Date.parse(t.ackedAt);
          }
          return undefined;
        },
        10_000,
        5,
      );
      samples.push(ackedAt - t0);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { scenario: "file change → Envoy ACK (standalone)", changes: n, ...summarize(samples) };
  } finally {
    await nc.close();
    await stack.stop();
  }
}
