// Istio ServiceEntry (networking.istio.io v1, v1beta1) as a waypoint reads it: a service like a
// Kubernetes Service (its addresses are the VIPs a chain matches, its ports the chains' ports), with
// endpoints that come from the object itself instead of EndpointSlices.
//
// - VIPs: `spec.addresses` (IPs or CIDRs); when there are none, the addresses Istio's allocator writes
//   into `status.addresses[].value` (they arrive after the object: kgateway#14390). Resolution NONE
//   sends to the address the client dialled, so only `spec.addresses` count for it (Istio allocates
//   none for NONE).
// - ports: `number`, `protocol` (HTTP, HTTP2, GRPC → an HTTP chain; TCP, TLS, HTTPS, MONGO, … → a TCP
//   chain), `name`, `targetPort` (the endpoints' port when an endpoint's own `ports` map names none).
// - resolution STATIC: the endpoints' IP addresses (`spec.endpoints[].address`); DNS: a STRICT_DNS
//   cluster to the endpoints' addresses, or the hosts when there are no endpoints; DNS_ROUND_ROBIN:
//   a LOGICAL_DNS cluster to the first of those; NONE: an ORIGINAL_DST cluster.
// A ServiceEntry Waymark cannot serve keeps its `unusable` reason: it gets no chain, and the objects
// that name it (a route's parent, an AuthorizationPolicy's targetRef) say why in their status.
import { isIP } from "node:net";
import type { KubeObject } from "@waymark/api";
import { int, isRecord, records, str, stringMap } from "./guards.ts";
import type { ServiceInfo, ServicePortInfo } from "./objects.ts";

export const ISTIO_NETWORKING_GROUP = "networking.istio.io";
/** The versions of networking.istio.io read (v1beta1 and v1alpha3 objects have the same schema). */
export const SERVICE_ENTRY_VERSIONS = new Set([
  `${ISTIO_NETWORKING_GROUP}/v1`,
  `${ISTIO_NETWORKING_GROUP}/v1beta1`,
  `${ISTIO_NETWORKING_GROUP}/v1alpha3`,
]);

export type Resolution = "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN";
const RESOLUTIONS: ReadonlySet<string> = new Set(["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"]);

export interface EntryEndpoint {
  /** An IP (STATIC) or a host name (DNS). */
  address: string;
  /** Port name → port on this endpoint. */
  ports: Record<string, number>;
}

export interface ServiceEntryInfo {
  hosts: string[];
  resolution: Resolution;
  endpoints: EntryEndpoint[];
  /** Where the VIPs came from. */
  addressesFrom: "spec" | "status" | "none";
  /** Why no chain is built for it (undefined: it is served). */
  unusable?: string;
}

function validPort(n: number | undefined): n is number {
  return n !== undefined && n >= 1 && n <= 65535;
}

/** The 16-bit groups of an IPv6 address (isIP() already said it is one), an embedded IPv4 included. */
function ipv6Groups(ip: string): number[] {
  const groups = (part: string) => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const gap = ip.indexOf("::");
  if (gap < 0) return groups(ip);
  const head = groups(ip.slice(0, gap));
  const tail = groups(ip.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text of IPv6 groups: lower-case, no leading zeros, the longest run of 0 groups as `::`. */
function ipv6Text(g: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: readonly number[]) => xs.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * The network address of `ip`/`len` in canonical text (IPv4 dotted, IPv6 as RFC 5952): two spellings
 * of one range are one string, so the listener never gets two chains Envoy sees as the same match.
 */
function network(ip: string, len: number, family: 4 | 6): string {
  if (family === 4) {
    const octets = ip.split(".").map(Number);
    return octets.map((o, i) => o & (0xff << (8 - Math.max(0, Math.min(8, len - i * 8)))) & 0xff).join(".");
  }
  const masked = ipv6Groups(ip).map(
    (g, i) => g & (0xffff << (16 - Math.max(0, Math.min(16, len - i * 16)))) & 0xffff,
  );
  return ipv6Text(masked);
}

/**
 * An IP, or a CIDR, as spec.addresses may hold, in canonical form (a CIDR as its network address, a
 * full-length prefix as the IP itself); undefined when it is neither.
 */
function address(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const slash = v.indexOf("/");
  const ip = slash < 0 ? v : v.slice(0, slash);
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return undefined;
  const full = family === 6 ? 128 : 32;
  const lenText = slash < 0 ? String(full) : v.slice(slash + 1);
  const len = Number(lenText);
  if (!/^\d+$/.test(lenText) || len > full) return undefined;
  const net = network(ip, len, family);
  return len === full ? net : `${net}/${len}`;
}

export function readServiceEntry(o: KubeObject): ServiceInfo {
  const spec = isRecord(o.spec) ? o.spec : {};
  const status = isRecord(o.status) ? o.status : {};
  const label = `ServiceEntry ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  const hosts = (Array.isArray(spec.hosts) ? spec.hosts : []).filter(
    (h): h is string => typeof h === "string" && h !== "",
  );
  const rawResolution = str(spec.resolution) ?? "NONE";
  const resolution = (RESOLUTIONS.has(rawResolution) ? rawResolution : "NONE") as Resolution;

  const ports: ServicePortInfo[] = [];
  for (const p of records(spec.ports)) {
    const port = int(p.number);
    if (!validPort(port) || ports.some((q) => q.port === port)) continue;
    const info: ServicePortInfo = { name: str(p.name) ?? "", port };
    // The protocol is what a Service's appProtocol is (input/protocol.ts reads it first).
    const protocol = str(p.protocol);
    if (protocol) info.appProtocol = protocol;
    const target = int(p.targetPort);
    if (validPort(target)) info.targetPort = target;
    ports.push(info);
  }

  const endpoints: EntryEndpoint[] = [];
  for (const e of records(spec.endpoints)) {
    const a = str(e.address);
    if (!a) continue;
    const portMap: Record<string, number> = {};
    if (isRecord(e.ports))
      for (const [k, v] of Object.entries(e.ports)) {
        const n = int(v);
        if (validPort(n)) portMap[k] = n;
      }
    endpoints.push({ address: a, ports: portMap });
  }

  const fromSpec: string[] = [];
  for (const a of Array.isArray(spec.addresses) ? spec.addresses : []) {
    const v = address(a);
    if (v && !fromSpec.includes(v)) fromSpec.push(v);
  }
  const fromStatus: string[] = [];
  for (const a of records(status.addresses)) {
    const v = address(a.value);
    if (v && !v.includes("/") && !fromStatus.includes(v)) fromStatus.push(v);
  }
  let vips = fromSpec;
  let addressesFrom: ServiceEntryInfo["addressesFrom"] = fromSpec.length ? "spec" : "none";
  if (!fromSpec.length && resolution !== "NONE" && fromStatus.length) {
    vips = fromStatus;
    addressesFrom = "status";
  }

  const entry: ServiceEntryInfo = { hosts, resolution, endpoints, addressesFrom };
  const unusable = (() => {
    if (hosts.length === 0) return `${label} has no spec.hosts`;
    if (ports.length === 0)
      return `${label} has no spec.ports: a waypoint serves a ServiceEntry on its ports`;
    if (isRecord(spec.workloadSelector))
      return `${label}: spec.workloadSelector is not supported (Waymark reads no WorkloadEntries or Pods for a ServiceEntry); list spec.endpoints instead`;
    if (!RESOLUTIONS.has(rawResolution)) return `${label}: spec.resolution ${rawResolution} is not supported`;
    if (vips.length === 0)
      return resolution === "NONE"
        ? `${label} has no spec.addresses: with resolution NONE traffic goes to the address the client dialled, and a waypoint only receives traffic for a ServiceEntry's addresses`
        : `${label} has no addresses: neither spec.addresses nor an address allocated by Istio in status.addresses`;
    if (resolution === "STATIC") {
      const bad = endpoints.find((e) => !isIP(e.address));
      if (bad)
        return `${label}: spec.endpoints address ${JSON.stringify(bad.address)} is not an IP address (resolution STATIC)`;
    }
    if ((resolution === "DNS" || resolution === "DNS_ROUND_ROBIN") && endpoints.length === 0) {
      const wildcard = hosts.find((h) => h.includes("*"));
      if (wildcard)
        return `${label}: resolution ${resolution} without spec.endpoints resolves the hosts, and ${JSON.stringify(wildcard)} is a wildcard`;
    }
    return undefined;
  })();
  if (unusable) entry.unusable = unusable;

  return {
    object: o,
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name,
    labels: stringMap(o.metadata.labels),
    vips,
    ports,
    entry,
  };
}

/** The key a ServiceEntry is filed under (distinct from a Service's `<ns>/<name>`). */
export function serviceEntryKey(namespace: string, name: string): string {
  return `ServiceEntry:${namespace}/${name}`;
}

/** One address to send to and its port. */
export interface EntryAddress {
  address: string;
  port: number;
}

/**
 * The addresses a ServiceEntry port sends to (STATIC and DNS): each endpoint at its own port for the
 * port's name, else targetPort, else the port's number; without endpoints (DNS) the hosts.
 */
export function entryAddresses(service: ServiceInfo, port: ServicePortInfo): EntryAddress[] {
  const entry = service.entry;
  if (!entry) return [];
  const fallback = port.targetPort ?? port.port;
  const out: EntryAddress[] = [];
  const seen = new Set<string>();
  const add = (address: string, p: number) => {
    const key = `${address}|${p}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ address, port: p });
  };
  if (entry.endpoints.length)
    for (const e of entry.endpoints) add(e.address, (port.name && e.ports[port.name]) || fallback);
  else if (entry.resolution === "DNS" || entry.resolution === "DNS_ROUND_ROBIN")
    for (const h of entry.hosts) add(h, fallback);
  return out;
}
