// The whole Waymark pipeline for the propagation and burst scenarios: NATS, the translator and one
// xds-server as processes; this process plays the watcher (writes wm-objects envelopes directly).
import { type KubeObject, manifestKey, objectKey, refOf, type WaypointManifest } from "@waymark/api";
import { getJson, listKeys } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import type { Proc } from "@waymark/testing";
import { waitFor } from "@waymark/testing";
import { envelope, WAYPOINT } from "./objects.ts";
import {
  type Backplane,
  startBackplane,
  startTranslatorProc,
  startXdsReplica,
  type XdsReplica,
} from "./services.ts";

export interface Pipeline {
  b: Backplane;
  translator: Proc;
  xds: XdsReplica;
  /** Writes objects to wm-objects, `concurrency` at a time; resolves when NATS acknowledged them all. */
  write(objects: KubeObject[], concurrency?: number): Promise<void>;
  /** The current manifest's RDS version. */
  rdsVersion(): Promise<string | undefined>;
  /** Waits until every object has a status in wm-status (the build that includes it was published). */
  statusesOf(objects: KubeObject[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPipeline(name: string): Promise<Pipeline> {
  const b = await startBackplane(name);
  const translator = await startTranslatorProc(b);
  const xds = await startXdsReplica(b, "bench-0");
  return {
    b,
    translator,
    xds,
    async write(objects, concurrency = 64) {
      for (let i = 0; i < objects.length; i += concurrency) {
        await Promise.all(
          objects.slice(i, i + concurrency).map((o) => {
            const e = envelope(o);
            return b.objects.put(e.key, e.value);
          }),
        );
      }
    },
    async rdsVersion() {
      return (await getJson<WaypointManifest>(b.xds, manifestKey(WAYPOINT)))?.versions[TypeUrl.route];
    },
    async statusesOf(objects, timeoutMs = 120_000) {
      const want = new Set(objects.map((o) => objectKey(refOf(o))));
      await waitFor(
        "statuses of every written object",
        async () => {
          const have = new Set(await listKeys(b.status));
          for (const k of want) if (!have.has(k)) return false;
          return true;
        },
        timeoutMs,
        50,
      );
    },
    async stop() {
      await xds.proc.stop();
      await translator.stop();
      await b.stop();
    },
  };
}
