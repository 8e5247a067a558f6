// The waypoint's tracing provider (settings.waypointTracing): each HTTP connection manager's
// `tracing` block with Envoy's OpenTelemetry tracer, exporting over OTLP/gRPC through one cluster
// (WAYPOINT_TRACING_CLUSTER) to the collector. A waypoint is a hop of its own in a trace, so the
// router starts a client span per upstream request (spawn_upstream_span) under the server span of the
// request; the random sampling is the setting's, and a route's TrafficPolicy `tracing` overrides it.
import { isIP } from "node:net";
import type {
  ClusterJson,
  HttpConnectionManagerJson,
  HttpProtocolOptionsJson,
  OpenTelemetryConfigJson,
} from "@waymark/envoy-proto";
import { pack } from "../ir/any.ts";
import type { ListenerTracingIR } from "../ir/types.ts";
import {
  DEFAULT_WAYPOINT_TRACING_SAMPLING,
  WAYPOINT_TRACING_CLUSTER,
  type WaypointTracingSettings,
} from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/** An export that has not finished by then is abandoned (Envoy drops those spans). */
const EXPORT_TIMEOUT = "5s";

/** host:port, an IPv6 address in brackets. */
function authority(t: WaypointTracingSettings): string {
  return `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
}

export function listenerTracing(t: WaypointTracingSettings, w: WaypointInfo): ListenerTracingIR {
  return {
    cluster: WAYPOINT_TRACING_CLUSTER,
    authority: authority(t),
    serviceName: `${w.ref.name}.${w.ref.namespace}`,
    randomSampling: t.randomSampling ?? DEFAULT_WAYPOINT_TRACING_SAMPLING,
  };
}

/** The collector's cluster: HTTP/2 (gRPC), its host resolved by DNS unless an IP. */
export function tracingCluster(t: WaypointTracingSettings): ClusterJson {
  const dns = isIP(t.host) === 0;
  const options: HttpProtocolOptionsJson = { explicitHttpConfig: { http2ProtocolOptions: {} } };
  return {
    name: WAYPOINT_TRACING_CLUSTER,
    type: dns ? "STRICT_DNS" : "STATIC",
    connectTimeout: "5s",
    // IPv4 first, IPv6 when the name has no IPv4 address (Envoy's default tries IPv6 first).
    ...(dns ? { dnsLookupFamily: "V4_PREFERRED" as const } : {}),
    loadAssignment: {
      clusterName: WAYPOINT_TRACING_CLUSTER,
      endpoints: [
        {
          lbEndpoints: [{ endpoint: { address: { socketAddress: { address: t.host, portValue: t.port } } } }],
        },
      ],
    },
    typedExtensionProtocolOptions: { [HTTP_OPTIONS]: pack(HTTP_OPTIONS, options) },
  };
}

/** The connection manager's tracing block. */
export function hcmTracing(t: ListenerTracingIR): NonNullable<HttpConnectionManagerJson["tracing"]> {
  const otel: OpenTelemetryConfigJson = {
    grpcService: { envoyGrpc: { clusterName: t.cluster, authority: t.authority }, timeout: EXPORT_TIMEOUT },
    serviceName: t.serviceName,
  };
  return {
    // Envoy's default (100%) is left out; client_sampling and overall_sampling keep theirs (100%).
    ...(t.randomSampling === 100 ? {} : { randomSampling: { value: t.randomSampling } }),
    spawnUpstreamSpan: true,
    provider: {
      name: "envoy.tracers.opentelemetry",
      typedConfig: pack("envoy.config.trace.v3.OpenTelemetryConfig", otel),
    },
  };
}
