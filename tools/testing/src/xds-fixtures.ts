// xDS test fixtures: small real Envoy resources, encoded like the translator does (encodeResource, one
// blob per content hash), and manifests over them, written to wm-xds or built in memory; and a minimal
// Envoy bootstrap that takes them over ADS. For the xds-server's tests and the end-to-end suites.
import type { WaypointManifest, WaypointRef } from "@waymark/api";
import { buckets, type KV, putValue } from "@waymark/bus";
import { contentHash, encodeResource, type JsonObject, TypeUrl, versionOf } from "@waymark/envoy-proto";
import { waypointNodeCluster } from "@waymark/waypoint";

export const CDS = TypeUrl.cluster;
export const EDS = TypeUrl.endpoint;
export const LDS = TypeUrl.listener;
export const RDS = TypeUrl.route;

const ads = { ads: {}, resourceApiVersion: "V3" };

export function cluster(name: string, timeout = "1s"): JsonObject {
  return { name, type: "EDS", connectTimeout: timeout, edsClusterConfig: { edsConfig: ads } };
}

export function endpoints(clusterName: string, port: number): JsonObject {
  return {
    clusterName,
    endpoints: [
      {
        lbEndpoints: [
          { endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: port } } } },
        ],
      },
    ],
  };
}

export function listener(name: string, port: number, routeConfigName: string): JsonObject {
  return {
    name,
    address: { socketAddress: { address: "127.0.0.1", portValue: port } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              statPrefix: name,
              rds: { routeConfigName, configSource: ads },
              httpFilters: [
                {
                  name: "envoy.filters.http.router",
                  typedConfig: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

export function routes(name: string, clusterName: string, prefix = "/"): JsonObject {
  return {
    name,
    virtualHosts: [
      { name: "all", domains: ["*"], routes: [{ match: { prefix }, route: { cluster: clusterName } }] },
    ],
  };
}

/** typeUrl → name → resource JSON */
export type Resources = Partial<Record<string, Record<string, JsonObject>>>;

export interface Built {
  manifest: WaypointManifest;
  blobs: Map<string, Uint8Array>;
  /** typeUrl → name → hash */
  hashes: Record<string, Record<string, string>>;
}

/** Encodes resources and builds their manifest (versions from versionOf, as the translator does). */
export function build(waypoint: WaypointRef, resources: Resources): Built {
  const blobs = new Map<string, Uint8Array>();
  const hashes: Record<string, Record<string, string>> = {};
  const versions: Record<string, string> = {};
  for (const [typeUrl, byName] of Object.entries(resources)) {
    const h: Record<string, string> = {};
    for (const [name, json] of Object.entries(byName ?? {})) {
      const bytes = encodeResource(typeUrl, name, json);
      const hash = contentHash(bytes);
      blobs.set(hash, bytes);
      h[name] = hash;
    }
    hashes[typeUrl] = h;
    versions[typeUrl] = versionOf(h);
  }
  const manifest: WaypointManifest = {
    waypoint,
    version: versionOf(versions),
    versions,
    resources: hashes,
    builtAt: new Date().toISOString(),
  };
  return { manifest, blobs, hashes };
}

/** Writes the blobs, then the manifest, to wm-xds (as the translator does). */
export async function publish(kv: KV, waypoint: WaypointRef, resources: Resources): Promise<Built> {
  const b = build(waypoint, resources);
  await Promise.all(
    [...b.blobs].map(([h, bytes]) => putValue(kv, buckets.blobs, buckets.blobs.key(h), bytes)),
  );
  await putValue(kv, buckets.manifests, buckets.manifests.key(waypoint), b.manifest);
  return b;
}

/** A typical waypoint: one cluster with endpoints, one listener with its route configuration. */
export function basic(
  opts: { port?: number; timeout?: string; upstreamPort?: number; prefix?: string } = {},
): Resources {
  return {
    [CDS]: { backend: cluster("backend", opts.timeout ?? "1s") },
    [EDS]: { backend: endpoints("backend", opts.upstreamPort ?? 9999) },
    [LDS]: { main: listener("main", opts.port ?? 10000, "main-routes") },
    [RDS]: { "main-routes": routes("main-routes", "backend", opts.prefix ?? "/") },
  };
}

/** A minimal Envoy bootstrap that takes everything from an xds-server on xdsPort over ADS (SotW or delta). */
export function envoyBootstrap(
  apiType: "GRPC" | "DELTA_GRPC",
  nodeId: string,
  waypoint: { namespace: string; name: string },
  xdsPort: number,
) {
  return {
    node: { id: nodeId, cluster: waypointNodeCluster(waypoint) },
    dynamic_resources: {
      ads_config: {
        api_type: apiType,
        transport_api_version: "V3",
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }],
      },
      cds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" },
      lds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" },
    },
    static_resources: {
      clusters: [
        {
          name: "xds",
          type: "STATIC",
          connect_timeout: "1s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: "xds",
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: xdsPort } } },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}
