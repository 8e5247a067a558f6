// Shared set-up for the translator service tests: a real NATS server, the buckets, a translator with
// short timings, and small helpers over KV revisions.
import { once } from "node:events";
import {
  Bucket,
  createLogger,
  type KubeObject,
  type Logger,
  type ObjectEnvelope,
  objectKey,
  refOf,
} from "@waymark/api";
import { connectBus, type KV, listKeys, type NatsConnection, openBucket, putJson } from "@waymark/bus";
import { type NatsServer, startNats } from "@waymark/testing";
import type { TranslatorConfig } from "../src/config.ts";
import {
  type BuildReport,
  startTranslator,
  type TranslateFn,
  type Translator,
} from "../src/service/translator.ts";
import { toyTranslate } from "./toy-translate.ts";

export interface Env {
  nats: NatsServer;
  nc: NatsConnection;
  objects: KV;
  xds: KV;
  status: KV;
  close(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const nats = await startNats();
  const nc = await connectBus({ servers: nats.url, name: "translator-test", log: quietLog().log });
  const [objects, xds, status] = await Promise.all([
    openBucket(nc, Bucket.objects),
    openBucket(nc, Bucket.xds),
    openBucket(nc, Bucket.status),
  ]);
  return {
    nats,
    nc,
    objects,
    xds,
    status,
    async close() {
      await nc.close();
      await nats.stop();
    },
  };
}

/** A logger that keeps its records (set WAYMARK_TEST_LOG=1 to also print them). */
export function quietLog(): { log: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const log = createLogger("translator", {}, (line) => {
    records.push(JSON.parse(line) as Record<string, unknown>);
    if (process.env["WAYMARK_TEST_LOG"]) process.stderr.write(line);
  });
  return { log, records };
}

export const testConfig = (over: Partial<TranslatorConfig> = {}): Omit<TranslatorConfig, "natsServers"> => ({
  controllerName: "waymark.dev/waymark",
  waypointClassName: "kgateway-waypoint",
  bindAddress: "127.0.0.1",
  debounceQuietMs: 50,
  debounceMaxMs: 1000,
  blobGraceMs: 60_000,
  leaderElection: false,
  leaderTtlMs: 5000,
  leaderId: "test",
  rootNamespace: "istio-system",
  trustDomain: "cluster.local",
  trustDomainAliases: [],
  xffTrustedHops: 0,
  ...over,
});

export async function runTranslator(
  env: Env,
  opts: { config?: Partial<TranslatorConfig>; translate?: TranslateFn; log?: Logger } = {},
): Promise<Translator> {
  const t = await startTranslator({
    config: testConfig(opts.config),
    log: opts.log ?? quietLog().log,
    buckets: { objects: env.objects, xds: env.xds, status: env.status },
    translate: opts.translate ?? toyTranslate,
  });
  await t.ready;
  return t;
}

export function envelope(object: KubeObject, observedAt = new Date().toISOString()): ObjectEnvelope {
  return { object, observedAt, source: "kube" };
}

/** Puts an object into wm-objects; returns the entry's revision. */
export function putObject(kv: KV, object: KubeObject, observedAt?: string): Promise<number> {
  return putJson(kv, objectKey(refOf(object)), envelope(object, observedAt));
}

export async function deleteObject(kv: KV, object: KubeObject): Promise<number> {
  await kv.delete(objectKey(refOf(object)));
  const e = await kv.get(objectKey(refOf(object)));
  if (!e) throw new Error("no delete marker");
  return e.revision;
}

/** Resolves with the first build that includes every wm-objects change up to `revision`. */
export async function buildIncluding(
  t: Translator,
  revision: number,
  timeoutMs = 10_000,
): Promise<BuildReport> {
  if (t.lastBuild && t.lastBuild.revision >= revision) return t.lastBuild;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for (;;) {
      const [r] = (await once(t.events, "built", { signal: ac.signal })) as [BuildReport];
      if (r.revision >= revision) return r;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Every live key of a bucket with its revision. */
export async function revisions(kv: KV, filter = ">"): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const k of (await listKeys(kv, filter)).sort()) {
    const e = await kv.get(k);
    if (e && e.operation === "PUT") out.set(k, e.revision);
  }
  return out;
}

export { setTimeout as sleep } from "node:timers/promises";
