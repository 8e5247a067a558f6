// Pure renderers for the CLI: status entries as kubectl-like YAML, proxy records as a table.
import { type ProxyRecord, refString, type StatusEntry } from "@waymark/api";
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

/** One row per proxy: like `istioctl proxy-status`, with the version each type holds. */
export function renderProxies(records: ProxyRecord[]): string {
  const header = ["NAME", "WAYPOINT", "REPLICA", "PROTOCOL", "CDS", "EDS", "LDS", "RDS"];
  const rows = [...records]
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId))
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
      ];
    });
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
