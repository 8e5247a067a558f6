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

/** An IP, or a CIDR of one, as spec.addresses may hold; undefined otherwise. */
function address(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const slash = v.indexOf("/");
  if (slash < 0) return isIP(v) ? v : undefined;
  const ip = v.slice(0, slash);
  const len = Number(v.slice(slash + 1));
  const family = isIP(ip);
  if (!family || !/^\d+$/.test(v.slice(slash + 1)) || len > (family === 6 ? 128 : 32)) return undefined;
  // A full-length prefix is the IP itself.
  return len === (family === 6 ? 128 : 32) ? ip : v;
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
