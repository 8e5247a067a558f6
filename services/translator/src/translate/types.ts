// The contract of the pure translation: source objects in, per-waypoint xDS (proto3 JSON) and the
// status of every object considered out. No clocks, no I/O, deterministic output.

import type { Condition, KubeObject, ObjectRef, WaypointRef } from "@waymark/api";
import type { JsonObject, SECRET_TYPE_URL, TypeUrl } from "@waymark/envoy-proto";
import type { TemplateLimits } from "@waymark/inja";
import type { InfraSettings } from "../infra/objects.ts";
import type { ExtAuthzProvider } from "./authorization/mesh-config.ts";

export interface TranslatorSettings {
  /** spec.controllerName of the GatewayClasses Waymark owns. */
  controllerName: string;
  /** The waypoint GatewayClass name (kgateway-waypoint). */
  waypointClassName: string;
  /**
   * Address the waypoint listener binds: "::" (IPv4-compatible) in a cluster; a loopback address such
   * as 127.0.0.1 in standalone mode and tests.
   */
  bindAddress: string;
  /**
   * How waypoint deployments look (xds-server address, Envoy image, token audience). When set, the
   * output includes each waypoint's Kubernetes objects (`infra`); when absent, only xDS and status.
   */
  infra?: InfraSettings;
  /**
   * The most HTTPRoutes one waypoint programs (default DEFAULT_MAX_ROUTES_PER_WAYPOINT); the newest
   * beyond it are not programmed and their status says so.
   */
  maxRoutesPerWaypoint?: number;
  /** Caps on TrafficPolicy templates (defaults: DEFAULT_TEMPLATE_LIMITS of @waymark/inja). */
  templateLimits?: Partial<TemplateLimits>;
  /**
   * Istio's root namespace (default DEFAULT_ROOT_NAMESPACE): only an AuthorizationPolicy or
   * RequestAuthentication there may target the waypoint GatewayClass (every waypoint of the class).
   */
  rootNamespace?: string;
  /** The mesh trust domain that `cluster.local` in a principal stands for (default DEFAULT_TRUST_DOMAIN). */
  trustDomain?: string;
  /** The trust domain's aliases, in order (default none). */
  trustDomainAliases?: readonly string[];
  /**
   * The HTTP connection manager's xff_num_trusted_hops (default 0, as Istio's numTrustedProxies):
   * with 0, remote.ip / remoteIpBlocks see the PROXY source and X-Forwarded-For is ignored.
   */
  xffTrustedHops?: number;
  /**
   * The waypoints' tracing provider, mesh-wide (as Istio's default tracing provider): every HTTP
   * connection manager sends spans over OTLP/gRPC to this collector. Absent: no tracing provider, and
   * a TrafficPolicy `tracing` is programmed on the routes but records nothing.
   */
  waypointTracing?: WaypointTracingSettings;
  /**
   * The mesh config's ext_authz extensionProviders (Istio MeshConfig), by name: an AuthorizationPolicy
   * with action CUSTOM calls the one its provider.name names. Absent: none, and CUSTOM policies deny
   * what they match.
   */
  extensionProviders?: readonly ExtAuthzProvider[];
}

/** An OpenTelemetry collector the waypoints export spans to (OTLP over gRPC). */
export interface WaypointTracingSettings {
  /** A host name (resolved by DNS, STRICT_DNS) or an IP address (STATIC), without brackets. */
  host: string;
  port: number;
  /**
   * Percentage of requests sampled (0 to 100, steps of 0.01) where no TrafficPolicy `tracing` sets
   * randomSampling (default DEFAULT_WAYPOINT_TRACING_SAMPLING).
   */
  randomSampling?: number;
}

/**
 * 1%, as Istio's default sampling: the provider is mesh-wide, so every request of every waypoint is a
 * candidate, and a TrafficPolicy raises it on the routes that need more.
 */
export const DEFAULT_WAYPOINT_TRACING_SAMPLING = 1;
/** The cluster of the collector, beside the backends' clusters (whose names start kube_). */
export const WAYPOINT_TRACING_CLUSTER = "waymark.tracing";

export const DEFAULT_ROOT_NAMESPACE = "istio-system";
export const DEFAULT_TRUST_DOMAIN = "cluster.local";

export const DEFAULT_SETTINGS: TranslatorSettings = {
  controllerName: "waymark.dev/waymark",
  waypointClassName: "kgateway-waypoint",
  bindAddress: "::",
};

export interface TranslationInput {
  /** Every source object, keyed by objectKey(refOf(o)). */
  objects: ReadonlyMap<string, KubeObject>;
  /**
   * Where `objects` stands in its source's journal of changes. With it, a memo need not compare
   * every object with the last translation's to find the few that changed: it asks for the keys
   * changed since the generation it translated last. Without it, every object is compared.
   */
  journal?: ObjectJournal;
}

/** A source's count of changes, and the keys each one touched. */
export interface ObjectJournal {
  /** The number of changes `objects` includes. */
  readonly generation: number;
  /**
   * The keys changed after `generation`, up to this one's (a key may repeat; a superset is fine);
   * undefined when the journal no longer reaches back that far.
   */
  changedSince(generation: number): Iterable<string> | undefined;
}

export interface XdsResource {
  name: string;
  /** proto3 JSON of the resource (nested Any fields carry "@type"), ready for encodeResource(). */
  json: JsonObject;
}

export interface WaypointOutput {
  waypoint: WaypointRef;
  /**
   * Every type URL in PUSH_ORDER is present (possibly empty); SDS secrets only when a filter reads
   * some; resources sorted by name.
   */
  resources: Record<TypeUrl, XdsResource[]> & Partial<Record<typeof SECRET_TYPE_URL, XdsResource[]>>;
}

export interface ObjectStatus {
  ref: ObjectRef;
  generation?: number;
  /** The whole `status` stanza; conditions carry no lastTransitionTime (the service stamps it). */
  status: Record<string, unknown>;
}

export interface TranslationOutput {
  /** Sorted by namespace, then name. */
  waypoints: WaypointOutput[];
  /** Sorted by objectKey(ref). */
  statuses: ObjectStatus[];
  /** Per waypoint Gateway of ours, its Kubernetes objects; only when settings.infra is set. */
  infra?: WaypointInfra[];
}

export interface WaypointInfra {
  waypoint: WaypointRef;
  /** ServiceAccount, ConfigMap, Service, Deployment, in apply order. */
  objects: KubeObject[];
}

export type { Condition };
