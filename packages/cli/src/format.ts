// Pure renderers for the CLI: status entries as kubectl-like YAML, proxy records as a table.
import {
  type ProxyRecord,
  type ReplicaHeartbeat,
  recordExpired,
  refString,
  type StatusEntry,
} from "@waymark/api";
import { stringify } from "yaml";

export function renderStatuses(entries: StatusEntry[]): string {
  const sorted = [...entries].sort((a, b) => refString(a.ref).localeCompare(refString(b.ref)));
  return sorted
    .map(
      (e) =>
        `# ${refString(e.ref)}${e.generation ? ` (generation ${e.generation})` : ""}\n${stringify({ status: e.status })}`,
    )
    .join("---\n");
}

const SHORT: Record<string, string> = {
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "CDS",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "EDS",
  "type.googleapis.com/envoy.config.listener.v3.Listener": "LDS",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "RDS",
};

/** `4s`, `3m12s`, `2h5m`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ""}`;
}

/** Heartbeats by replica name. */
export type Heartbeats = ReadonlyMap<string, ReplicaHeartbeat>;

/**
 * One row per proxy: like `istioctl proxy-status`, with the version each type holds. A record whose
 * replica's heartbeat is gone or expired (the replica was killed or cut off from NATS) is EXPIRED:
 * the live replicas delete such records; this covers the time until they do.
 */
export function renderProxies(records: ProxyRecord[], beats: Heartbeats, now: Date = new Date()): string {
  const isExpired = (r: ProxyRecord) => recordExpired(r, beats.get(r.replica), now);
  const header = ["NAME", "WAYPOINT", "REPLICA", "PROTOCOL", "CDS", "EDS", "LDS", "RDS", "SEEN"];
  const rows = [...records]
    .sort((a, b) => Number(isExpired(a)) - Number(isExpired(b)) || a.nodeId.localeCompare(b.nodeId))
    .map((r) => {
      const cell = (short: string) => {
        const url = Object.keys(SHORT).find((k) => SHORT[k] === short)!;
        const t = r.types[url];
        if (!t) return "-";
        if (t.nackedVersion && t.nackedVersion === t.sentVersion)
          return `NACKED ${t.nackedVersion.slice(0, 8)}`;
        if (t.ackedVersion && t.ackedVersion === t.sentVersion) return `SYNCED ${t.ackedVersion.slice(0, 8)}`;
        return t.sentVersion ? `STALE ${t.sentVersion.slice(0, 8)}` : "-";
      };
      return [
        r.nodeId,
        r.waypoint ? `${r.waypoint.namespace}/${r.waypoint.name}` : "-",
        r.replica,
        r.protocol,
        cell("CDS"),
        cell("EDS"),
        cell("LDS"),
        cell("RDS"),
        seen(r, beats.get(r.replica), isExpired(r), now),
      ];
    });
  const expired = records.filter(isExpired).length;
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat(
      expired
        ? `\n\n${expired} record(s) EXPIRED: their xds-server replica stopped its heartbeat or restarted (killed or cut off from NATS); the proxies may have reconnected elsewhere.`
        : "",
    );
}

/** How long ago the owning replica last beat (or, without a heartbeat, last wrote the record). */
function seen(r: ProxyRecord, h: ReplicaHeartbeat | undefined, expired: boolean, now: Date): string {
  const at = Date.parse(h?.beatAt ?? r.updatedAt);
  if (Number.isNaN(at)) return expired ? "EXPIRED" : "-";
  const age = formatAge(now.getTime() - at);
  return expired ? `EXPIRED ${age} ago` : `${age} ago`;
}
