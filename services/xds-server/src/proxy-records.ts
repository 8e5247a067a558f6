// Where ProxyRecords are written. Each record carries a per-message TTL (NATS ≥ 2.11 `allow_msg_ttl`):
// its replica rewrites it well within the TTL, so a replica that dies without cleaning up (kill -9,
// lost node) leaves records that the server itself removes (a PURGE marker) once the TTL passes.
// Buckets created before TTLs are switched over once; where that is impossible, records are written
// without a TTL and readers judge them by `refreshedAt` + `ttlMs`.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Bucket, type Logger } from "@waymark/api";
import type { KV, NatsConnection } from "@waymark/bus";

export interface RecordWriter {
  /** True when the server expires records by itself. */
  readonly ttl: boolean;
  put(key: string, json: string): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

/** How long a delete marker of an expired record stays (watchers see the removal meanwhile). */
const MARKER_TTL_NS = 10 * 60 * 1e9;

export async function openRecordWriter(
  nc: NatsConnection,
  kv: KV,
  ttlMs: number,
  log: Logger,
): Promise<RecordWriter> {
  const plain: RecordWriter = {
    ttl: false,
    put: (key, json) => kv.put(key, json),
    delete: (key) => kv.delete(key),
  };
  if (ttlMs <= 0) return plain;
  const stream = `KV_${Bucket.proxies}`;
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    if (!info.config.allow_msg_ttl) {
      await jsm.streams.update(stream, {
        ...info.config,
        allow_msg_ttl: true,
        subject_delete_marker_ttl: info.config.subject_delete_marker_ttl || MARKER_TTL_NS,
      });
      log.info("enabled per-message TTLs on the proxies bucket", { stream });
    }
  } catch (err) {
    log.warn("cannot enable per-message TTLs on the proxies bucket; readers will judge records by age", {
      stream,
      err,
    });
    return plain;
  }
  const js = jetstream(nc);
  const ttl = `${Math.max(1, Math.ceil(ttlMs / 1000))}s`;
  return {
    ttl: true,
    put: (key, json) => js.publish(`$KV.${Bucket.proxies}.${key}`, json, { ttl }),
    delete: (key) => kv.delete(key),
  };
}
