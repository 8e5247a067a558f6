// Whether a wm-proxies record is current, judged by its replica's heartbeat in wm-replicas.
import type { ProxyRecord, ReplicaHeartbeat } from "./envelopes.ts";

/** True when a heartbeat is older than its TTL: its replica is gone. */
export function heartbeatExpired(h: ReplicaHeartbeat, now: Date): boolean {
  const at = Date.parse(h.beatAt);
  return h.ttlMs > 0 && (Number.isNaN(at) || now.getTime() - at > h.ttlMs);
}

/**
 * True when a record no longer describes a connected proxy: its replica has no heartbeat, an expired
 * one, or one of another incarnation (the replica restarted, or was taken for dead).
 */
export function recordExpired(r: ProxyRecord, h: ReplicaHeartbeat | undefined, now: Date): boolean {
  return !h || heartbeatExpired(h, now) || h.incarnation !== r.incarnation;
}
