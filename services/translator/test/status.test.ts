// Statuses in wm-status: written only on change, lastTransitionTime kept while a condition's status
// holds, stale entries deleted, the watcher's own entries left alone.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Condition, objectKey, type StatusEntry } from "@waymark/api";
import { getJson, putJson } from "@waymark/bus";
import type { Translator } from "../src/service/translator.ts";
import {
  buildIncluding,
  deleteObject,
  type Env,
  putObject,
  revisions,
  runTranslator,
  sleep,
  startEnv,
} from "./helpers.ts";
import { ACCEPTED, gateway } from "./toy-translate.ts";

let env: Env;
let t: Translator;
const gwKey = objectKey({
  group: "gateway.networking.k8s.io",
  kind: "Gateway",
  namespace: "app",
  name: "waypoint",
});
const sourceFileKey = "waymark_dev.SourceFile._.gateways_yaml";

const accepted = (e: StatusEntry | undefined) => (e?.status["conditions"] as Condition[] | undefined)?.[0];

before(async () => {
  env = await startEnv();
  // The watcher's entry for a source file, and a stale entry from an earlier run.
  await putJson(env.status, sourceFileKey, {
    ref: { group: "waymark.dev", kind: "SourceFile", namespace: "", name: "gateways.yaml" },
    status: { conditions: [] },
    computedAt: "2030-01-01T00:00:00.000Z",
  });
  await putJson(env.status, "gateway_networking_k8s_io.HTTPRoute.app.gone", {
    ref: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "app", name: "gone" },
    status: {},
    computedAt: "2030-01-01T00:00:00.000Z",
  });
  t = await runTranslator(env);
});
after(async () => {
  await t.stop();
  await env.close();
});

test("stale translator statuses are deleted at the first build; the watcher's are kept", async () => {
  assert.equal(await getJson(env.status, "gateway_networking_k8s_io.HTTPRoute.app.gone"), undefined);
  assert.ok(await getJson(env.status, sourceFileKey));
});

test("status is written with lastTransitionTime, kept while the condition holds", async () => {
  const r1 = await putObject(env.objects, gateway("app", "waypoint", { generation: 1 }));
  await buildIncluding(t, r1);
  const first = await getJson<StatusEntry>(env.status, gwKey);
  assert.ok(first);
  assert.equal(first.generation, 1);
  const c1 = accepted(first);
  assert.equal(c1?.status, "True");
  assert.equal(c1?.lastTransitionTime, first.computedAt);

  // Unchanged status: nothing written.
  const revBefore = (await revisions(env.status)).get(gwKey);
  const same = await putObject(env.objects, gateway("app", "waypoint", { generation: 1 }));
  const rep = await buildIncluding(t, same);
  assert.equal(rep.published?.statusesWritten, 0);
  assert.equal((await revisions(env.status)).get(gwKey), revBefore);

  // New generation, same condition status: rewritten (observedGeneration), transition time kept.
  await sleep(20);
  const r2 = await putObject(env.objects, gateway("app", "waypoint", { generation: 2 }));
  await buildIncluding(t, r2);
  const second = await getJson<StatusEntry>(env.status, gwKey);
  assert.equal(second?.generation, 2);
  assert.equal(accepted(second)?.observedGeneration, 2);
  assert.notEqual(second?.computedAt, first.computedAt);
  assert.equal(accepted(second)?.lastTransitionTime, c1?.lastTransitionTime);

  // The condition flips: new transition time.
  await sleep(20);
  const r3 = await putObject(
    env.objects,
    gateway("app", "waypoint", { generation: 3, annotations: { [ACCEPTED]: "False" } }),
  );
  await buildIncluding(t, r3);
  const third = await getJson<StatusEntry>(env.status, gwKey);
  assert.equal(accepted(third)?.status, "False");
  assert.equal(accepted(third)?.lastTransitionTime, third?.computedAt);
  assert.notEqual(accepted(third)?.lastTransitionTime, c1?.lastTransitionTime);
});

test("a restarted translator keeps stored transition times and rewrites no status", async () => {
  const before = await revisions(env.status);
  await t.stop();
  t = await runTranslator(env);
  assert.deepEqual(await revisions(env.status), before);
});

test("the status of a deleted object is deleted; the watcher's entry stays", async () => {
  const rev = await deleteObject(env.objects, gateway("app", "waypoint"));
  const report = await buildIncluding(t, rev);
  assert.equal(report.published?.statusesDeleted, 1);
  assert.equal(await getJson(env.status, gwKey), undefined);
  assert.ok(await getJson(env.status, sourceFileKey));
});
