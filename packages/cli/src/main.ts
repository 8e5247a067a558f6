// waymark: read Waymark's state from NATS. `waymark status` prints the status of every object;
// `waymark proxy-status` lists connected proxies and the version each holds per xDS type.
import { Bucket, createLogger, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { renderProxies, renderStatuses } from "./format.ts";

const usage =
  "usage: waymark status|proxy-status   (NATS from WAYMARK_NATS_URL, default nats://127.0.0.1:4222)";
const cmd = process.argv[2];
if (cmd !== "status" && cmd !== "proxy-status") {
  console.error(usage);
  process.exit(2);
}
const nc = await connectBus({
  servers: process.env["WAYMARK_NATS_URL"] ?? "nats://127.0.0.1:4222",
  name: "waymark-cli",
  log: createLogger("cli"),
});
try {
  const kv = await openBucket(nc, cmd === "status" ? Bucket.status : Bucket.proxies);
  const values = [];
  for (const k of await listKeys(kv)) {
    const v = await getJson<unknown>(kv, k);
    if (v) values.push(v);
  }
  console.log(
    cmd === "status" ? renderStatuses(values as StatusEntry[]) : renderProxies(values as ProxyRecord[]),
  );
} finally {
  await nc.close();
}
