// waymark: read Waymark's state from NATS. `waymark status` prints the status of every object;
// `waymark proxy-status` lists connected proxies and the version each holds per xDS type;
// `waymark config-dump <ns>/<gateway>` prints one waypoint's xDS resources as JSON.
import {
  Bucket,
  blobKey,
  createLogger,
  describeError,
  manifestKey,
  type ProxyRecord,
  type ReplicaHeartbeat,
  type StatusEntry,
  type WaypointManifest,
} from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { configDump, manifestHashes } from "./config-dump.ts";
import { renderProxies, renderStatuses } from "./format.ts";

const usage = [
  "usage: waymark status | proxy-status | config-dump <namespace>/<gateway>",
  "  (NATS from WAYMARK_NATS_URL, default nats://127.0.0.1:4222)",
].join("\n");
const [cmd, arg] = process.argv.slice(2);
const target = cmd === "config-dump" ? /^([^/\s]+)\/([^/\s]+)$/.exec(arg ?? "") : null;
if (!(cmd === "status" || cmd === "proxy-status" || (cmd === "config-dump" && target))) {
  console.error(cmd === "config-dump" ? `config-dump needs <namespace>/<gateway>\n${usage}` : usage);
  process.exit(2);
}
// A failure prints one line that says what to fix (a WaymarkError's hint), not a stack trace.
const nc = await connectBus({
  servers: process.env["WAYMARK_NATS_URL"] ?? "nats://127.0.0.1:4222",
  name: "waymark-cli",
  log: createLogger("cli"),
}).catch((err: unknown) => {
  console.error(`waymark: ${describeError(err)}`);
  process.exit(1);
});
let code = 0;
try {
  if (cmd === "config-dump") {
    const waypoint = { namespace: target![1]!, name: target![2]! };
    const kv = await openBucket(nc, Bucket.xds);
    const m = await getJson<WaypointManifest>(kv, manifestKey(waypoint));
    if (!m) {
      console.error(
        `no configuration for waypoint ${waypoint.namespace}/${waypoint.name} in ${Bucket.xds}. Check the name with \`waymark status\`: the translator writes one for each Gateway of class kgateway-waypoint.`,
      );
      code = 1;
    } else {
      const blobs = new Map<string, Uint8Array | undefined>();
      for (const h of manifestHashes(m)) {
        const e = await kv.get(blobKey(h));
        blobs.set(h, e?.operation === "PUT" ? e.value : undefined);
      }
      console.log(JSON.stringify(configDump(m, blobs), null, 2));
    }
  } else {
    const all = async <T>(bucket: Bucket): Promise<T[]> => {
      const kv = await openBucket(nc, bucket);
      const values: T[] = [];
      for (const k of await listKeys(kv)) {
        const v = await getJson<T>(kv, k);
        if (v) values.push(v);
      }
      return values;
    };
    if (cmd === "status") console.log(renderStatuses(await all<StatusEntry>(Bucket.status)));
    else {
      const beats = await all<ReplicaHeartbeat>(Bucket.replicas);
      const records = await all<ProxyRecord>(Bucket.proxies);
      console.log(renderProxies(records, new Map(beats.map((h) => [h.replica, h]))));
    }
  }
} catch (err) {
  console.error(`waymark: ${describeError(err)}`);
  code = 1;
} finally {
  await nc.close();
}
process.exit(code);
