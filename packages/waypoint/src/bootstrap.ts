// The Envoy bootstrap of a waypoint proxy: who it is (node), where its xDS comes from (delta ADS to the
// xds-server), and its admin/readiness endpoints. Pure; the waypoint Deployment and the standalone
// demo and tests all use this one function, so a test Envoy boots exactly as a deployed one would.
import type { WaypointRef } from "@waymark/api";
import { waypointNodeCluster } from "./node-cluster.ts";
import { waypointRuntime } from "./runtime.ts";

export interface BootstrapOptions {
  waypoint: WaypointRef;
  /** Pod name (node.id = `<pod>.<namespace>`). */
  podName: string;
  /** xds-server addresses; Envoy picks one per connection and moves to another when it fails. */
  xds: ReadonlyArray<{ host: string; port: number }>;
  /** STRICT_DNS for a Service name in a cluster, STATIC for an IP (standalone). */
  xdsResolution?: "STATIC" | "STRICT_DNS";
  admin?: { address: string; port: number };
  /** A static listener answering /ready (kgateway uses 8082); omitted when not given. */
  readinessPort?: number;
  /**
   * A token (a projected service-account token in a cluster) that Envoy sends to the xds-server as
   * `authorization: Bearer <token>` on every xDS stream. `file` holds the token; `sdsFile` holds the
   * SDS resource that names it (renderTokenSds()). The secret comes from that file-based SDS source
   * watching the token's directory: the kubelet rotates a projected token by swapping the directory's
   * `..data` link, and only then does Envoy read the token again. (A static secret would keep the
   * first token forever, and the xds-server refuses it once it expires.)
   */
  xdsToken?: { file: string; sdsFile: string };
}

/** Name of the generic secret holding the xDS token. */
export const XDS_TOKEN_SECRET = "xds-token";

/**
 * The default audience of the token a waypoint sends: the one the translator's waypoint Deployments
 * project and the one the xds-server requires (both WAYMARK_XDS_TOKEN_AUDIENCE, which overrides it).
 */
export const XDS_TOKEN_AUDIENCE = "waymark";

export function renderBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const { waypoint: w } = o;
  const grpcService = { envoy_grpc: { cluster_name: "xds_cluster" } };
  const bootstrap: Record<string, unknown> = {
    node: {
      id: `${o.podName}.${w.namespace}`,
      cluster: waypointNodeCluster(w),
      metadata: { role: `waymark~${w.namespace}~${w.name}` },
    },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        set_node_on_first_message_only: true,
        grpc_services: [grpcService],
      },
      cds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" },
      lds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" },
    },
    static_resources: {
      listeners: o.readinessPort === undefined ? [] : [readinessListener(o.readinessPort)],
      clusters: [
        {
          name: "xds_cluster",
          type: o.xdsResolution ?? "STATIC",
          connect_timeout: "5s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: {
                http2_protocol_options: {
                  connection_keepalive: { interval: "30s", timeout: "5s" },
                },
              },
              ...(o.xdsToken ? { http_filters: tokenInjectionFilters(o.xdsToken) } : {}),
            },
          },
          load_assignment: {
            cluster_name: "xds_cluster",
            endpoints: [
              {
                lb_endpoints: o.xds.map((x) => ({
                  endpoint: { address: { socket_address: { address: x.host, port_value: x.port } } },
                })),
              },
            ],
          },
        },
      ],
    },
    admin: {
      address: {
        socket_address: { address: o.admin?.address ?? "127.0.0.1", port_value: o.admin?.port ?? 19000 },
      },
    },
    // Raises Envoy's RE2 program-size limit to the one the translator enforces.
    layered_runtime: waypointRuntime(),
  };
  return bootstrap;
}

/** The file-based SDS resource that names the token file (the `sdsFile` of BootstrapOptions.xdsToken). */
export function renderTokenSds(tokenFile: string): Record<string, unknown> {
  return {
    resources: [
      {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        name: XDS_TOKEN_SECRET,
        generic_secret: { secret: { filename: tokenFile } },
      },
    ],
  };
}

function directoryOf(file: string): string {
  const slash = file.lastIndexOf("/");
  return slash > 0 ? file.slice(0, slash) : ".";
}

/**
 * Upstream HTTP filters of the xds cluster: the credential injector puts the token into the
 * `authorization` header of each xDS stream (Envoy's gRPC client runs the cluster's upstream filters);
 * the codec filter must come last.
 */
function tokenInjectionFilters(token: { file: string; sdsFile: string }): Array<Record<string, unknown>> {
  return [
    {
      name: "envoy.filters.http.credential_injector",
      typed_config: {
        "@type":
          "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
        overwrite: true,
        credential: {
          name: "envoy.http.injected_credentials.generic",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
            credential: {
              name: XDS_TOKEN_SECRET,
              sds_config: {
                path_config_source: {
                  path: token.sdsFile,
                  watched_directory: { path: directoryOf(token.file) },
                },
                resource_api_version: "V3",
              },
            },
            header_value_prefix: "Bearer ",
          },
        },
      },
    },
    {
      name: "envoy.filters.http.upstream_codec",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
      },
    },
  ];
}

function readinessListener(port: number): Record<string, unknown> {
  return {
    name: "readiness",
    address: { socket_address: { address: "0.0.0.0", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "readiness",
              route_config: {
                virtual_hosts: [
                  {
                    name: "readiness",
                    domains: ["*"],
                    routes: [{ match: { prefix: "/ready" }, direct_response: { status: 200 } }],
                  },
                ],
              },
              http_filters: [
                {
                  name: "envoy.filters.http.router",
                  typed_config: {
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
