// The typed intermediate representation of one waypoint: what the translation decided, before any
// xDS is written. Stage 5 (ir/waypoint.ts) builds it from the waypoint, its services and the
// compiled routes; policies fill its slots (policies/stage.ts); xds/ emits the resources from it.
import type {
  AnyJson,
  ClusterJson,
  FilterJson,
  HttpFilterJson,
  RouteJson,
  SecretJson,
} from "@waymark/envoy-proto";
import type { ServiceInfo } from "../input/objects.ts";
import type { BackendTarget } from "../routes/backends.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import type { HttpFilterSlot, NetworkFilterSlot } from "./filter-order.ts";

/** Per-filter config by HTTP filter name (typed_per_filter_config). */
export type PerFilterConfig = Record<string, AnyJson>;

/** An HTTP filter a policy feature needs, and its slot in ir/filter-order.ts. */
export interface PlacedHttpFilter {
  slot: HttpFilterSlot;
  filter: HttpFilterJson;
}

/** A network filter a policy needs on a filter chain, and its slot in ir/filter-order.ts. */
export interface PlacedNetworkFilter {
  slot: NetworkFilterSlot;
  filter: FilterJson;
}

/** One filter chain: a (service VIPs, port) pair. */
export interface ChainIR {
  name: string;
  kind: "http" | "tcp";
  vips: readonly string[];
  port: number;
  /** TCP: the cluster it proxies to. HTTP: the service port's own cluster. */
  cluster: string;
  /** The service the chain is for (policies bound to a Service place their filters on its chains). */
  service: ServiceInfo;
  /** Policy slot: HTTP filters of its connection manager besides the router (HTTP chains). */
  httpFilters: PlacedHttpFilter[];
  /**
   * HTTP: request headers removed as a request arrives, before routing and before any filter (the
   * headers jwt_authn writes verified claims into, see authorization/contract.ts outputHeaders).
   */
  earlyRemovedHeaders?: string[];
  /** Policy slot: network filters besides the peer identity and the terminal filter. */
  networkFilters: PlacedNetworkFilter[];
  /**
   * TCP chains a TCPRoute or TLSRoute applies to (routes/tcp/ir.ts); absent: straight to `cluster`.
   * Every filter chain emitted for it carries the same network filters (authorization included).
   */
  stream?: StreamChainIR;
}

/** Where a routed connection goes: weighted clusters (a refused share goes to a cluster without hosts). */
export interface StreamForwardIR {
  /** The route it comes from, `<Kind>/<ns>/<name>`. */
  route: string;
  clusters: ReadonlyArray<{ cluster: string; weight: number }>;
}

export interface StreamChainIR {
  /** The TCPRoute's forward, for connections that no SNI chain takes; absent: those are refused. */
  forward?: StreamForwardIR;
  /** TLSRoutes: one filter chain per SNI host name (exact or `*.` wildcard), sorted by host name. */
  sni: ReadonlyArray<{ hostname: string; forward: StreamForwardIR }>;
}

/** The route configuration of one HTTP chain (named like it). */
export interface RouteConfigIR {
  name: string;
  service: ServiceInfo;
  port: number;
  /** The service port's cluster. */
  cluster: string;
  /** Whether routes apply (else: the default route to the service itself). */
  hasRoutes: boolean;
  gatewayRoutes: readonly CompiledRoute[];
  serviceRoutes: readonly CompiledRoute[];
  /** The backends its routes send to, once per cluster, in the order first seen. */
  targets: readonly BackendTarget[];
  /** Policy slot: the virtual host's per-filter config (Gateway-level policies). */
  virtualHostConfig?: PerFilterConfig;
  /**
   * Policy slot: Gateway-level edits of the route entries (timeouts, retries): a replacement for an
   * entry, or undefined to keep it (see PolicyFeature.editRoute).
   */
  routeEdit?: (route: RouteJson) => RouteJson | undefined;
}

export interface ListenerIR {
  bindAddress: string;
  port: number;
  /** The HTTP connection managers' xff_num_trusted_hops (settings.xffTrustedHops; absent: 0). */
  xffTrustedHops?: number;
  /** The HTTP connection managers' tracing provider (settings.waypointTracing; absent: none). */
  tracing?: ListenerTracingIR;
  /** Sorted by name. */
  chains: ChainIR[];
  /** Destination ports some chain matches by SNI: tls_inspector runs on them only (sorted). */
  sniPorts?: number[];
}

/** Where the waypoint's spans go (the collector's cluster) and how they are named and sampled. */
export interface ListenerTracingIR {
  cluster: string;
  /** The collector's host:port, the gRPC :authority. */
  authority: string;
  /** The spans' service.name: `<waypoint>.<namespace>`. */
  serviceName: string;
  /** Percentage of requests sampled where a route sets no randomSampling of its own. */
  randomSampling: number;
}

export interface WaypointIR {
  waypoint: WaypointInfo;
  /** Absent when the waypoint has nothing to listen for (no usable inbound listener, no chains). */
  listener: ListenerIR | undefined;
  /** In chain order of discovery (emitted sorted by name). */
  routeConfigs: RouteConfigIR[];
  /** One per cluster: every backend the waypoint sends to, service ports first. */
  clusters: BackendTarget[];
  /** Clusters besides the backends, whole (the JWKS servers of RequestAuthentications), one per name. */
  extraClusters?: ClusterJson[];
  /** SDS secrets the filters read (policies' secretsFor), one per name. */
  secrets?: SecretJson[];
}
