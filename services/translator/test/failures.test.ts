// A failed translation or encoding never replaces a good snapshot: the last good manifest stays, the
// error is logged with the waypoint and resource, other waypoints still publish, and the service
// recovers on the next good input.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import type { Translator } from "../src/service/translator.ts";
import {
  buildIncluding,
  type Env,
  putObject,
  quietLog,
  revisions,
  runTranslator,
  startEnv,
} from "./helpers.ts";
import { BAD_CLUSTER, gateway, service, THROW } from "./toy-translate.ts";

let env: Env;
let t: Translator;
const logs = quietLog();
const red = { namespace: "red", name: "waypoint" };
const blue = { namespace: "blue", name: "waypoint" };

before(async () => {
  env = await startEnv();
  t = await runTranslator(env, { log: logs.log });
  await putObject(env.objects, gateway("red", "waypoint"));
  await putObject(env.objects, gateway("blue", "waypoint"));
  await putObject(env.objects, service("red", "api", "waypoint", [80], "10.3.0.1"));
  const rev = await putObject(env.objects, service("blue", "api", "waypoint", [80], "10.4.0.1"));
  const r = await buildIncluding(t, rev);
  assert.equal(r.ok, true);
});
after(async () => {
  await t.stop();
  await env.close();
});

test("a translation that throws keeps every published snapshot", async () => {
  const before = await revisions(env.xds);
  const rev = await putObject(
    env.objects,
    service("red", "api", "waypoint", [80, 81], "10.3.0.1", { [THROW]: "" }),
  );
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, false);
  assert.deepEqual(await revisions(env.xds), before, "nothing written or deleted");
  assert.ok(
    logs.records.some(
      (r) =>
        r["level"] === "error" && r["msg"] === "translation failed; the last good snapshots stay published",
    ),
  );

  // The service is still running: fixing the input publishes again.
  const fixed = await putObject(env.objects, service("red", "api", "waypoint", [80, 81], "10.3.0.1"));
  const ok = await buildIncluding(t, fixed);
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.published?.manifestsWritten, [manifestKey(red)]);
});

test("a resource that fails to encode keeps that waypoint's last good snapshot; others publish", async () => {
  const redBefore = await env.xds.get(manifestKey(red));
  const blueBefore = await getJson<WaypointManifest>(env.xds, manifestKey(blue));
  await putObject(
    env.objects,
    service("red", "api", "waypoint", [80, 82], "10.3.0.1", { [BAD_CLUSTER]: "" }),
  );
  const rev = await putObject(env.objects, service("blue", "api", "waypoint", [80, 8443], "10.4.0.1"));
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  assert.deepEqual(report.failed, ["red/waypoint"]);
  assert.deepEqual(report.published?.manifestsWritten, [manifestKey(blue)]);

  const redAfter = await env.xds.get(manifestKey(red));
  assert.equal(redAfter?.revision, redBefore?.revision, "red's manifest untouched");
  assert.equal(redAfter?.operation, "PUT", "and not deleted");
  const blueAfter = await getJson<WaypointManifest>(env.xds, manifestKey(blue));
  assert.notEqual(blueAfter?.version, blueBefore?.version);
  assert.ok(blueAfter?.resources[TypeUrl.cluster]?.["outbound|8443||api.blue.svc.cluster.local"]);

  const err = logs.records.find(
    (r) => r["msg"] === "cannot build waypoint snapshot; its last good snapshot stays published",
  );
  assert.ok(err, "error logged");
  assert.equal(err["level"], "error");
  assert.equal(err["waypoint"], "red/waypoint");
  assert.equal(err["typeUrl"], TypeUrl.cluster);
  assert.match(String(err["resource"]), /^outbound\|(80|82)\|\|api\.red\.svc\.cluster\.local$/);

  // Fixed input: red publishes again.
  const fixed = await putObject(env.objects, service("red", "api", "waypoint", [80, 82], "10.3.0.1"));
  const ok = await buildIncluding(t, fixed);
  assert.deepEqual(ok.failed, []);
  assert.deepEqual(ok.published?.manifestsWritten, [manifestKey(red)]);
  const m = await getJson<WaypointManifest>(env.xds, manifestKey(red));
  assert.ok(m?.resources[TypeUrl.cluster]?.["outbound|82||api.red.svc.cluster.local"]);
});
