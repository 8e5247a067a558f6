// NATS JetStream plumbing shared by the services: connection, the KV buckets, JSON values, and
// watches that say when they have caught up with the bucket's current contents.

import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Bucket, ConfigError, type Logger, WaymarkError } from "@waymark/api";
import { type BucketEntries, bucketHistory } from "./buckets.ts";

export type { KV, KvEntry } from "@nats-io/kv";
export type { NatsConnection } from "@nats-io/transport-node";
export * from "./buckets.ts";

export interface BusOptions {
  servers: string | string[];
  /** Connection name shown by the NATS server (the service and replica). */
  name: string;
  log: Logger;
  /** TLS to NATS; default: from WAYMARK_NATS_TLS_* (natsTlsFromEnv), none when unset. */
  tls?: NatsTls;
}

/** Files of a TLS connection to NATS: the CA to trust, and a client certificate when NATS asks one. */
export interface NatsTls {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * TLS settings from the environment: WAYMARK_NATS_TLS_CA (a PEM file; turns TLS on), and optionally
 * WAYMARK_NATS_TLS_CERT and WAYMARK_NATS_TLS_KEY (a client certificate, both or neither).
 */
export function natsTlsFromEnv(env: Record<string, string | undefined> = process.env): NatsTls | undefined {
  const caFile = env["WAYMARK_NATS_TLS_CA"]?.trim();
  const certFile = env["WAYMARK_NATS_TLS_CERT"]?.trim();
  const keyFile = env["WAYMARK_NATS_TLS_KEY"]?.trim();
  if (!certFile !== !keyFile)
    throw new ConfigError("WAYMARK_NATS_TLS_CERT and WAYMARK_NATS_TLS_KEY go together: set both or neither");
  if (!caFile) {
    if (certFile) throw new ConfigError("WAYMARK_NATS_TLS_CERT needs WAYMARK_NATS_TLS_CA");
    return undefined;
  }
  return { caFile, ...(certFile && keyFile ? { certFile, keyFile } : {}) };
}

/**
 * Takes `user:password@` out of NATS URLs (`nats://watcher:secret@nats:4222`, as the Helm chart sets
 * WAYMARK_NATS_URL) so they are sent as the connection's credentials; nats.js ignores them in URLs.
 * A string may hold several URLs separated by commas (the servers of a NATS cluster).
 */
export function splitCredentials(servers: string | string[]): {
  servers: string[];
  user?: string;
  pass?: string;
} {
  let user: string | undefined;
  let pass: string | undefined;
  const list = (Array.isArray(servers) ? servers : [servers]).flatMap((s) => s.split(","));
  const out = list
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      const m = /^([a-z]+:\/\/)([^@/\s]*)@(.*)$/.exec(s);
      if (!m) return s;
      const [u, p] = m[2]!.split(/:(.*)/s);
      user = decodeURIComponent(u ?? "");
      pass = p === undefined ? undefined : decodeURIComponent(p);
      return `${m[1]}${m[3]}`;
    });
  return { servers: out, ...(user === undefined ? {} : { user }), ...(pass === undefined ? {} : { pass }) };
}

/** Strips the password from a NATS URL for logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/\s]*):[^@/\s]*@/, "$1:***@");
}

/** Connects with unlimited reconnects: a NATS outage pauses a service, never ends it. */
export async function connectBus(opts: BusOptions): Promise<NatsConnection> {
  const { servers, user, pass } = splitCredentials(opts.servers);
  const tls = opts.tls ?? natsTlsFromEnv();
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      ...(user === undefined ? {} : { user, pass }),
      ...(tls ? { tls } : {}),
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
    });
  } catch (err) {
    // Only a refusal ends the first connect (it waits for a server that is down): say what to check.
    throw new WaymarkError(
      "nats-connect",
      `cannot connect to NATS at ${servers.map(redactUrl).join(", ")}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
        opts.log.warn("nats connection", { event: s.type, server: "server" in s ? s.server : undefined });
      }
    }
  })();
  return nc;
}

/** The environment variable with the replicas of every bucket (stream) the services create. */
export const NATS_REPLICAS_ENV = "WAYMARK_NATS_REPLICAS";
/** JetStream replicates a stream on 1, 3 or 5 servers (an odd quorum; the server allows no more than 5). */
export const NATS_REPLICA_COUNTS = [1, 3, 5] as const;

/**
 * Replicas of every KV bucket the services create, from WAYMARK_NATS_REPLICAS (default 1): 1 for a
 * single NATS server, 3 or 5 for a JetStream cluster of at least that many servers.
 */
export function natsReplicasFromEnv(env: Record<string, string | undefined> = process.env): number {
  const raw = env[NATS_REPLICAS_ENV]?.trim();
  if (!raw) return 1;
  const n = Number(raw);
  if (!(NATS_REPLICA_COUNTS as readonly number[]).includes(n) || !/^\d$/.test(raw))
    throw new ConfigError(
      `${NATS_REPLICAS_ENV}=${JSON.stringify(raw)}: expected 1, 3 or 5 (the number of NATS servers that keep each bucket: 1 for a single server, 3 or 5 at most the size of a JetStream cluster)`,
    );
  return n;
}

export interface OpenBucketOptions {
  /** Replicas of the bucket's stream; default natsReplicasFromEnv(). */
  replicas?: number;
  /**
   * The caller writes this bucket and may change its stream (the chart gives only a bucket's writers
   * $JS.API.STREAM.UPDATE): an existing bucket with other replicas is scaled to `replicas`. Readers
   * use it as it is (its writers scale it).
   */
  writer?: boolean;
  /** Tries before giving up (default 120, some four minutes). */
  attempts?: number;
}

// JetStream API error codes (nats-server's errors.json) that openBucket tells apart.
/** "replicas > 1 not supported in non-clustered mode": a single server, replicas asked for. */
const JS_REPLICAS_NOT_SUPPORTED = 10074;
/** "no suitable peers for placement", "insufficient resources": fewer servers up than replicas. */
const JS_NO_PEERS = new Set([10005, 10023]);

const jsErrCode = (err: unknown): number | undefined =>
  err instanceof JetStreamApiError ? err.code : undefined;

function replicasError(bucket: string, replicas: number, err: unknown, what: string): ConfigError {
  return new ConfigError(
    `bucket ${bucket}: ${what} with ${replicas} replicas (${NATS_REPLICAS_ENV}=${replicas}): ${err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
      fix: `Set ${NATS_REPLICAS_ENV} to at most the number of JetStream servers in the NATS cluster (1 for a single server; in the Helm chart: nats.replicas or nats.external.replicas), or start the missing NATS servers.`,
    },
  );
}

/**
 * Opens (creating if missing) one of Waymark's buckets, on file storage, with the replicas asked for.
 * An existing bucket with other replicas is scaled when the caller writes it (NATS moves a stream
 * between R1, R3 and R5 in place). Retries while NATS or JetStream is not there yet (a restarting
 * server, a cluster with too few servers up), logging each failure; replicas a single server cannot
 * have are a ConfigError at once.
 */
export async function openBucket(
  nc: NatsConnection,
  bucket: Bucket,
  log?: Logger,
  opts: OpenBucketOptions = {},
): Promise<KV> {
  const replicas = opts.replicas ?? natsReplicasFromEnv();
  for (let attempt = 1; ; attempt++) {
    try {
      const kv = await new Kvm(nc).create(bucket, {
        history: bucketHistory[bucket],
        storage: "file",
        replicas,
      });
      await matchReplicas(nc, kv, bucket, replicas, opts.writer === true, log);
      return kv;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const code = jsErrCode(err);
      if (code === JS_REPLICAS_NOT_SUPPORTED)
        throw replicasError(bucket, replicas, err, "NATS is a single server: it cannot keep a bucket");
      if (attempt >= (opts.attempts ?? 120) || nc.isClosed()) {
        if (code !== undefined && JS_NO_PEERS.has(code))
          throw replicasError(
            bucket,
            replicas,
            err,
            "NATS has too few JetStream servers up to keep a bucket",
          );
        throw err;
      }
      log?.warn("cannot open bucket yet; retrying", { bucket, replicas, attempt, err });
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
    }
  }
}

/** Scales an existing bucket's stream to `replicas` (writers), or says that it differs (readers). */
export async function matchReplicas(
  nc: NatsConnection,
  kv: KV,
  bucket: string,
  replicas: number,
  writer: boolean,
  log?: Logger,
): Promise<void> {
  const status = await kv.status();
  if (status.replicas === replicas) return;
  if (!writer) {
    log?.warn("bucket has other replicas than asked; its writers scale it", {
      bucket,
      replicas: status.replicas,
      want: replicas,
    });
    return;
  }
  const jsm = await jetstreamManager(nc);
  await jsm.streams.update(status.streamInfo.config.name, { num_replicas: replicas });
  log?.info("bucket scaled", { bucket, from: status.replicas, to: replicas });
}

const enc = new TextEncoder();

export function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  return kv.put(key, enc.encode(JSON.stringify(value)));
}

export async function getJson<T>(kv: KV, key: string): Promise<T | undefined> {
  const e = await kv.get(key);
  if (e?.operation !== "PUT") return undefined;
  return e.json<T>();
}

/** Reads one entry of a kind of the bus table: its value (JSON or bytes); undefined when absent or deleted. */
export async function getValue<V, A extends readonly unknown[]>(
  kv: KV,
  entries: BucketEntries<V, A>,
  key: string,
): Promise<V | undefined> {
  const e = await kv.get(key);
  if (e?.operation !== "PUT") return undefined;
  return entries.encoding === "json" ? e.json<V>() : (e.value as V);
}

/** Writes one entry of a kind of the bus table, encoded as the table says. */
export function putValue<V, A extends readonly unknown[]>(
  kv: KV,
  entries: BucketEntries<V, A>,
  key: string,
  value: V,
): Promise<number> {
  return kv.put(key, entries.encoding === "json" ? enc.encode(JSON.stringify(value)) : (value as Uint8Array));
}

/** Every live key of a bucket under a filter. */
export async function listKeys(kv: KV, filter = ">"): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys(filter)) out.push(k);
  return out;
}

export interface WatchHandlers {
  /** Called for every entry, in order: first the current values, then each change. */
  onEntry(e: KvEntry): void | Promise<void>;
  /** Called once, after the last entry that existed when the watch started. */
  onReady?(): void | Promise<void>;
}

export interface Watch {
  /** Resolves after onReady. */
  ready: Promise<void>;
  stop(): void;
}

/**
 * Watches a bucket (latest value per key, then updates), awaiting each handler before the next.
 * Survives NATS reconnects: the watch resumes after the last revision it delivered.
 */
export function watchBucket(kv: KV, filter: string, h: WatchHandlers, log: Logger): Watch {
  const bucket = (kv as unknown as { bucket?: string }).bucket;
  let stopped = false;
  let stopFn: () => void = () => {};
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  let isReady = false;
  const markReady = async () => {
    if (isReady) return;
    isReady = true;
    await h.onReady?.();
    resolveReady();
  };
  let lastRevision = 0;
  const run = async () => {
    while (!stopped) {
      try {
        const pending = isReady ? -1 : (await listKeys(kv, filter)).length;
        const it = await kv.watch({
          key: filter,
          ...(lastRevision ? { resumeFromRevision: lastRevision + 1 } : {}),
        });
        stopFn = () => it.stop();
        if (pending === 0) await markReady();
        for await (const e of it) {
          lastRevision = Math.max(lastRevision, e.revision);
          await h.onEntry(e);
          if (!isReady && e.delta === 0) await markReady();
        }
        if (!stopped) log.warn("kv watch ended; restarting", { bucket, filter });
      } catch (err) {
        if (stopped) return;
        log.warn("kv watch failed; retrying", { bucket, filter, err });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  void run();
  return {
    ready,
    stop() {
      stopped = true;
      stopFn();
    },
  };
}

/** Deletes the JetStream streams behind Waymark's buckets (tests and `waymark reset`). */
export async function deleteBuckets(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const b of Object.values(Bucket)) {
    try {
      await jsm.streams.delete(`KV_${b}`);
    } catch {
      // not there
    }
  }
}

export { KvPutError, KvWriter } from "./kv-writer.ts";
