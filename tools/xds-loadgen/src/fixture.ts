// Synthetic waypoint snapshots for benchmarks and tests: shaped like the translator's output (one
// inbound listener with an HTTP filter chain per service, RDS per service, EDS clusters), encoded the
// way the translator does (one blob per content hash, content-hash versions). The same encoded
// snapshot can be published to Waymark (wm-xds) and loaded into the go-control-plane reference server.
import { blobKey, manifestKey, type WaypointManifest, type WaypointRef } from "@waymark/api";
import { contentHash, encodeResource, type JsonObject, TypeUrl, versionOf } from "@waymark/envoy-proto";

const ADS = { ads: {}, resourceApiVersion: "V3" };
const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

export interface SyntheticOptions {
  services: number;
  /** Routes in each service's route configuration (≈ 230 bytes each). */
  routesPerService: number;
  /** Changes every route's header value: a new version of every route configuration. */
  variant?: string;
  /** Changes only this service's route configuration (index), leaving the others as they are. */
  changedService?: number;
}

/** typeUrl → name → proto3 JSON */
export type ResourceSet = Record<string, Record<string, JsonObject>>;

const svc = (i: number) => `svc${i}`;
const clusterName = (i: number) => `kube_bench_${svc(i)}_8000`;
const routeName = (i: number) => `${svc(i)}.bench.svc.cluster.local_8000`;

/** The route configuration of one service with `n` routes; `tag` goes into every route. */
export function routeConfiguration(i: number, n: number, tag: string): JsonObject {
  return {
    name: routeName(i),
    virtualHosts: [
      {
        name: routeName(i),
        domains: ["*"],
        routes: Array.from({ length: n }, (_, r) => ({
          name: `bench.route-${i}-${r}.0`,
          match: { prefix: `/service-${i}/path-${r}/` },
          route: { cluster: clusterName(i), timeout: "15s" },
          requestHeadersToAdd: [
            {
              header: { key: "x-bench-route", value: `route-${r}-${tag}` },
              appendAction: "OVERWRITE_IF_EXISTS_OR_ADD",
            },
          ],
        })),
      },
    ],
  };
}

export function syntheticWaypoint(o: SyntheticOptions): ResourceSet {
  const clusters: Record<string, JsonObject> = {};
  const endpoints: Record<string, JsonObject> = {};
  const routes: Record<string, JsonObject> = {};
  const chains: JsonObject[] = [];
  for (let i = 0; i < o.services; i++) {
    const c = clusterName(i);
    clusters[c] = { name: c, type: "EDS", connectTimeout: "5s", edsClusterConfig: { edsConfig: ADS } };
    endpoints[c] = {
      clusterName: c,
      endpoints: [
        {
          lbEndpoints: [
            {
              endpoint: {
                address: { socketAddress: { address: `10.1.${i >> 8}.${i & 255}`, portValue: 8080 } },
              },
            },
          ],
        },
      ],
    };
    const tag = o.changedService === undefined || o.changedService === i ? (o.variant ?? "v0") : "v0";
    routes[routeName(i)] = routeConfiguration(i, o.routesPerService, tag);
    chains.push({
      name: `${svc(i)}_8000`,
      filterChainMatch: {
        destinationPort: 8000,
        prefixRanges: [{ addressPrefix: `10.96.${i >> 8}.${i & 255}`, prefixLen: 32 }],
      },
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": HCM,
            statPrefix: `${svc(i)}_8000`,
            rds: { routeConfigName: routeName(i), configSource: ADS },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER } }],
          },
        },
      ],
    });
  }
  const listener: JsonObject = {
    name: "proxy_protocol_inbound",
    address: { socketAddress: { address: "127.0.0.1", portValue: 15088 } },
    filterChains: chains,
  };
  return {
    [TypeUrl.cluster]: clusters,
    [TypeUrl.endpoint]: endpoints,
    [TypeUrl.listener]: { proxy_protocol_inbound: listener },
    [TypeUrl.route]: routes,
  };
}

export interface EncodedSnapshot {
  /** Per type: the version (over name → hash), as the translator computes it. */
  versions: Record<string, string>;
  version: string;
  /** typeUrl → name → hash */
  hashes: Record<string, Record<string, string>>;
  blobs: Map<string, Uint8Array>;
}

/** Encodes every resource once (reusing `previous` blobs for unchanged JSON is left to the caller). */
export function encodeSnapshot(set: ResourceSet): EncodedSnapshot {
  const blobs = new Map<string, Uint8Array>();
  const hashes: Record<string, Record<string, string>> = {};
  const versions: Record<string, string> = {};
  for (const [typeUrl, byName] of Object.entries(set)) {
    const h: Record<string, string> = {};
    for (const name of Object.keys(byName).sort()) {
      const bytes = encodeResource(typeUrl, name, byName[name]!);
      const hash = contentHash(bytes);
      blobs.set(hash, bytes);
      h[name] = hash;
    }
    hashes[typeUrl] = h;
    versions[typeUrl] = versionOf(h);
  }
  return { versions, version: versionOf(versions), hashes, blobs };
}

/** The bytes of one resource of an encoded snapshot. */
export function resourceBytes(s: EncodedSnapshot, typeUrl: string, name: string): Uint8Array {
  return s.blobs.get(s.hashes[typeUrl]![name]!)!;
}

/** A KV bucket as the publisher needs it (structurally @waymark/bus's KV). */
export interface PutKv {
  put(key: string, value: Uint8Array | string): Promise<unknown>;
}

/** Writes the blobs, then the manifest, to wm-xds, as the translator does. */
export async function publishToWaymark(kv: PutKv, waypoint: WaypointRef, s: EncodedSnapshot): Promise<void> {
  const blobs = [...s.blobs];
  for (let i = 0; i < blobs.length; i += 64) {
    await Promise.all(blobs.slice(i, i + 64).map(([h, b]) => kv.put(blobKey(h), b)));
  }
  const m: WaypointManifest = {
    waypoint,
    version: s.version,
    versions: s.versions,
    resources: s.hashes,
    builtAt: new Date().toISOString(),
  };
  await kv.put(manifestKey(waypoint), JSON.stringify(m));
}

/** The control-API body of the go-control-plane reference server for one snapshot. */
export function referenceBody(s: EncodedSnapshot): string {
  const resources: Record<string, Record<string, string>> = {};
  for (const [t, byName] of Object.entries(s.hashes)) {
    resources[t] = {};
    for (const [n, h] of Object.entries(byName))
      resources[t][n] = Buffer.from(s.blobs.get(h)!).toString("base64");
  }
  return JSON.stringify({ versions: s.versions, resources });
}
