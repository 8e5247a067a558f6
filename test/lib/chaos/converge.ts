// What the chaos suites (chaos.test.ts, nats-cluster.test.ts) share: their settings from the
// environment, a seeded PRNG, the wait until every proxy ACKed the expected manifest, and the final
// checks of wm-proxies and of the real Envoys' route configurations.
import assert from "node:assert/strict";
import type { NatsConnection } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { type EnvoyProc, waitFor } from "@waymark/testing";
import { type Expected, proxyRecords } from "./expected.ts";
import { type Change, MARKER, type SourceHistory } from "./history.ts";
import type { RecordingProxy } from "./recorder.ts";

export const TYPES = [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route] as const;
export const short = (t: string) =>
  ({
    [TypeUrl.cluster]: "CDS",
    [TypeUrl.endpoint]: "EDS",
    [TypeUrl.listener]: "LDS",
    [TypeUrl.route]: "RDS",
  })[t] ?? t;

/** A whole number from the environment, or `fallback` when unset. */
export function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got ${v}`);
  return n;
}

/** A small seeded PRNG (mulberry32), so a run's changes can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One change, recorded in the history: create an absent route, else update (70 %) or delete (30 %)
 * it. The route is picked at random; `apply` writes it with its marker, `remove` deletes it.
 */
export async function randomChange(o: {
  history: SourceHistory;
  routes: readonly string[];
  random: () => number;
  apply(route: string, marker: string): Promise<void> | void;
  remove(route: string): Promise<void> | void;
}): Promise<void> {
  const { history, random } = o;
  const route = o.routes[Math.floor(random() * o.routes.length)]!;
  const seq = history.next();
  const issuedAt = Date.now();
  let op: Change["op"];
  if (!history.exists(route)) op = "create";
  else op = random() < 0.7 ? "update" : "delete";
  if (op === "delete") {
    history.deleting(route, issuedAt);
    await o.remove(route);
  } else await o.apply(route, `${route}-v${seq}`);
  history.record({ seq, route, op, marker: seq, issuedAt, doneAt: Date.now() });
}

/**
 * Waits until every proxy (wm-proxies, by node id) ACKed each type of the expected manifest and every
 * recording proxy holds it; resolves with the time of the last of those ACKs.
 */
export async function awaitProxiesAcked(
  nc: NatsConnection,
  expected: Expected,
  proxyIds: string[],
  recorders: RecordingProxy[],
  timeoutMs: number,
): Promise<number> {
  let lag: string[] = [];
  return waitFor(
    "every proxy ACKed the final manifest",
    async () => {
      lag = [];
      const records = await proxyRecords(nc);
      let last = 0;
      for (const id of proxyIds) {
        const rec = records.get(id);
        for (const ty of TYPES) {
          const s = rec?.types[ty];
          if (s?.ackedVersion !== expected.versions[ty]) {
            lag.push(
              `${id} ${short(ty)}: acked ${s?.ackedVersion ?? "nothing"} (sent ${s?.sentVersion}), want ${expected.versions[ty]}`,
            );
          } else last = Math.max(last, Date.parse(s?.ackedAt ?? "0"));
        }
      }
      for (const r of recorders) {
        for (const ty of TYPES) {
          if (r.versions.get(ty) !== expected.versions[ty])
            lag.push(`${r.id} holds ${short(ty)} ${r.versions.get(ty)}, want ${expected.versions[ty]}`);
        }
      }
      return lag.length === 0 && last;
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}:\n${lag.slice(0, 12).join("\n")}`);
  });
}

/** Every proxy has a wm-proxies record that ACKed each type of the manifest, with no NACK standing. */
export async function assertProxiesAcked(nc: NatsConnection, expected: Expected, proxyIds: string[]) {
  const records = await proxyRecords(nc);
  for (const id of proxyIds) {
    const rec = records.get(id);
    assert.ok(rec, `${id} has a wm-proxies record`);
    for (const ty of TYPES) {
      assert.equal(rec.types[ty]?.ackedVersion, expected.versions[ty], `${id} ${short(ty)} ACKed`);
      assert.equal(rec.types[ty]?.nackedVersion, undefined, `${id} ${short(ty)} never NACKed`);
    }
  }
}

/**
 * A real Envoy's route configurations are exactly the manifest's, and hold exactly the last marker
 * of each route that exists at the end (route → marker).
 */
export async function assertEnvoyHolds(envoy: EnvoyProc, expected: Expected, final: Map<string, number>) {
  const want = [...final].map(([r, m]) => `${r}-v${m}`).sort();
  const dump = JSON.parse(await envoy.admin("/config_dump?resource=dynamic_route_configs")) as {
    configs: Array<{ version_info: string; route_config: { name: string } }>;
  };
  const versions = Object.fromEntries(dump.configs.map((c) => [c.route_config.name, c.version_info]));
  assert.deepEqual(versions, expected.resources[TypeUrl.route], `${envoy.proc.name} route configurations`);
  const have = [...new Set([...JSON.stringify(dump).matchAll(MARKER)].map((m) => m[0]))].sort();
  assert.deepEqual(have, want, `${envoy.proc.name} holds every route's last marker`);
}
