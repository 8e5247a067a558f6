// Envoy xDS types for Waymark: generated protobuf-es code (src/gen, from `pnpm generate`), a registry
// over it, strict proto3-JSON → binary encoding with content hashes, and the ADS service definition.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import {
  createRegistry,
  type DescFile,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  type Registry,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { WaymarkError } from "@waymark/api";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  file_envoy_service_discovery_v3_discovery,
} from "./gen/envoy/service/discovery/v3/discovery_pb.js";

export type { JsonObject, JsonValue } from "@bufbuild/protobuf";
export { create, fromBinary, toBinary } from "@bufbuild/protobuf";
// The typed proto3-JSON shapes the translator builds (json_types=true); typed_config fields are AnyJson.
export type { AnyJson } from "@bufbuild/protobuf/wkt";
export { type Any, AnySchema, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
export type { ClusterJson } from "./gen/envoy/config/cluster/v3/cluster_pb.js";
export type { AddressJson, SocketAddressJson } from "./gen/envoy/config/core/v3/address_pb.js";
export type { HeaderValueOptionJson } from "./gen/envoy/config/core/v3/base_pb.js";
export type { ConfigSourceJson } from "./gen/envoy/config/core/v3/config_source_pb.js";
export type { GrpcServiceJson } from "./gen/envoy/config/core/v3/grpc_service_pb.js";
export type { ClusterLoadAssignmentJson } from "./gen/envoy/config/endpoint/v3/endpoint_pb.js";
export type {
  FilterChainJson,
  FilterChainMatchJson,
  FilterJson,
  ListenerFilterJson,
} from "./gen/envoy/config/listener/v3/listener_components_pb.js";
export type { ListenerJson } from "./gen/envoy/config/listener/v3/listener_pb.js";
export type {
  ActionJson as RbacActionJson,
  PermissionJson as RbacPermissionJson,
  PolicyJson as RbacPolicyJson,
  PrincipalJson as RbacPrincipalJson,
  RBACJson as RbacConfigJson,
} from "./gen/envoy/config/rbac/v3/rbac_pb.js";
export type {
  DirectResponseActionJson,
  FilterConfigJson,
  HeaderMatcherJson,
  QueryParameterMatcherJson,
  RedirectActionJson,
  RetryPolicyJson,
  RouteAction_RequestMirrorPolicyJson,
  RouteActionJson,
  RouteJson,
  RouteMatchJson,
  VirtualHostJson,
  WeightedCluster_ClusterWeightJson,
  WeightedClusterJson,
} from "./gen/envoy/config/route/v3/route_components_pb.js";
export type { RouteConfigurationJson } from "./gen/envoy/config/route/v3/route_pb.js";
export type { OpenTelemetryConfigJson } from "./gen/envoy/config/trace/v3/opentelemetry_pb.js";
export type { BrotliJson as BrotliCompressorJson } from "./gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.js";
export type { GzipJson as GzipCompressorJson } from "./gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.js";
export type { ZstdJson as ZstdCompressorJson } from "./gen/envoy/extensions/compression/zstd/compressor/v3/zstd_pb.js";
// TrafficPolicy features (issue 14) and the extensions (issue 15).
export type {
  ApiKeyAuthJson,
  ApiKeyAuthPerRouteJson,
} from "./gen/envoy/extensions/filters/http/api_key_auth/v3/api_key_auth_pb.js";
export type {
  BasicAuthJson,
  BasicAuthPerRouteJson,
} from "./gen/envoy/extensions/filters/http/basic_auth/v3/basic_auth_pb.js";
export type {
  BufferJson,
  BufferPerRouteJson,
} from "./gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.js";
export type {
  CompressorJson,
  CompressorPerRouteJson,
} from "./gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js";
export type { CorsJson, CorsPolicyJson } from "./gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
export type { CsrfPolicyJson } from "./gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.js";
export type { DecompressorJson } from "./gen/envoy/extensions/filters/http/decompressor/v3/decompressor_pb.js";
export type {
  ExtAuthzJson,
  ExtAuthzPerRouteJson,
} from "./gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
export type {
  ExternalProcessorJson,
  ExtProcPerRouteJson,
} from "./gen/envoy/extensions/filters/http/ext_proc/v3/ext_proc_pb.js";
export type { ProcessingModeJson } from "./gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode_pb.js";
export type { HTTPFaultJson } from "./gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
export type {
  HeaderMutationJson,
  HeaderMutationPerRouteJson,
} from "./gen/envoy/extensions/filters/http/header_mutation/v3/header_mutation_pb.js";
export type {
  JwtAuthenticationJson,
  JwtProviderJson,
  JwtRequirementJson,
  PerRouteConfigJson as JwtPerRouteConfigJson,
  RemoteJwksJson,
  RequirementRuleJson,
} from "./gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js";
export type { LocalRateLimitJson } from "./gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js";
export type { LuaJson, LuaPerRouteJson } from "./gen/envoy/extensions/filters/http/lua/v3/lua_pb.js";
export type {
  OAuth2ConfigJson,
  OAuth2Json,
} from "./gen/envoy/extensions/filters/http/oauth2/v3/oauth_pb.js";
export type {
  RateLimitConfigJson as HttpRateLimitConfigJson,
  RateLimitJson as HttpRateLimitJson,
  RateLimitPerRouteJson as HttpRateLimitPerRouteJson,
} from "./gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
export type {
  RBACJson as HttpRbacJson,
  RBACPerRouteJson as HttpRbacPerRouteJson,
} from "./gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
export type { RouterJson } from "./gen/envoy/extensions/filters/http/router/v3/router_pb.js";
export type { ConfigJson as SetMetadataJson } from "./gen/envoy/extensions/filters/http/set_metadata/v3/set_metadata_pb.js";
export type { ProxyProtocolJson } from "./gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.js";
export type { TlsInspectorJson } from "./gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
export type {
  HttpConnectionManagerJson,
  HttpFilterJson,
} from "./gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
export type { RBACJson as NetworkRbacJson } from "./gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
export type { ConfigJson as SetFilterStateJson } from "./gen/envoy/extensions/filters/network/set_filter_state/v3/set_filter_state_pb.js";
export type { TcpProxyJson } from "./gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js";
export type { HeaderMutationJson as EarlyHeaderMutationJson } from "./gen/envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation_pb.js";
export type { UriTemplateMatchConfigJson } from "./gen/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb.js";
export type {
  SdsSecretConfigJson,
  SecretJson,
} from "./gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
export type { UpstreamTlsContextJson } from "./gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
export type { HttpProtocolOptionsJson } from "./gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
export { ResourceSchema } from "./gen/envoy/service/discovery/v3/discovery_pb.js";
// The ext_proc service's messages (a processing server in the e2e tests speaks them).
export {
  type ProcessingRequest,
  ProcessingRequestSchema,
  type ProcessingResponse,
  ProcessingResponseSchema,
} from "./gen/envoy/service/ext_proc/v3/external_processor_pb.js";
export type { FilterStateMatcherJson } from "./gen/envoy/type/matcher/v3/filter_state_pb.js";
export type { StringMatcherJson } from "./gen/envoy/type/matcher/v3/string_pb.js";
export { StatusCodeSchema } from "./gen/envoy/type/v3/http_status_pb.js";
export type { CelMatcherJson } from "./gen/xds/type/matcher/v3/cel_pb.js";
export type { HttpAttributesCelMatchInputJson } from "./gen/xds/type/matcher/v3/http_inputs_pb.js";
export type {
  Matcher_MatcherList_PredicateJson as XdsMatcherPredicateJson,
  Matcher_OnMatchJson as XdsMatcherOnMatchJson,
  MatcherJson as XdsMatcherJson,
} from "./gen/xds/type/matcher/v3/matcher_pb.js";
export {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
};

/** The xDS resource types Waymark serves, by their type URLs. */
export const TypeUrl = {
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/**
 * SDS secrets (envoy.extensions.transport_sockets.tls.v3.Secret): served over the same ADS stream, in a
 * waypoint's snapshot only when a filter reads one (OAuth2's client and HMAC secrets). Not in
 * PUSH_ORDER: Envoy asks for them by name when a listener that names them arrives.
 */
export const SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** Make-before-break order in which a proxy is sent its resources. */
export const PUSH_ORDER: readonly TypeUrl[] = [
  TypeUrl.cluster,
  TypeUrl.endpoint,
  TypeUrl.listener,
  TypeUrl.route,
];

export function isTypeUrl(s: string): s is TypeUrl {
  return (PUSH_ORDER as readonly string[]).includes(s);
}

// The registry of every Envoy type Waymark encodes, built on first use: its generated files (most of
// the 580 KiB of descriptors under gen/, decoded when their module loads) cost about 4.5 MiB of heap,
// which a process that never encodes or decodes a resource (the xds-server: it passes bytes on) does
// not pay. They load with require(), which Node 24 runs synchronously for these ES modules.
const requireGen = createRequire(import.meta.url);
const REGISTRY_FILES: ReadonlyArray<readonly [path: string, exported: string]> = [
  ["./gen/envoy/config/listener/v3/listener_pb.js", "file_envoy_config_listener_v3_listener"],
  ["./gen/envoy/config/cluster/v3/cluster_pb.js", "file_envoy_config_cluster_v3_cluster"],
  ["./gen/envoy/config/route/v3/route_pb.js", "file_envoy_config_route_v3_route"],
  // FilterConfig (per-route config that enables a filter placed disabled) lives here.
  ["./gen/envoy/config/route/v3/route_components_pb.js", "file_envoy_config_route_v3_route_components"],
  ["./gen/envoy/config/endpoint/v3/endpoint_pb.js", "file_envoy_config_endpoint_v3_endpoint"],
  [
    "./gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.js",
    "file_envoy_extensions_filters_listener_proxy_protocol_v3_proxy_protocol",
  ],
  [
    "./gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js",
    "file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector",
  ],
  [
    "./gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js",
    "file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager",
  ],
  [
    "./gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js",
    "file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy",
  ],
  [
    "./gen/envoy/extensions/filters/network/set_filter_state/v3/set_filter_state_pb.js",
    "file_envoy_extensions_filters_network_set_filter_state_v3_set_filter_state",
  ],
  [
    "./gen/envoy/extensions/filters/http/router/v3/router_pb.js",
    "file_envoy_extensions_filters_http_router_v3_router",
  ],
  ["./gen/envoy/extensions/filters/http/lua/v3/lua_pb.js", "file_envoy_extensions_filters_http_lua_v3_lua"],
  [
    "./gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js",
    "file_envoy_extensions_upstreams_http_v3_http_protocol_options",
  ],
  // envoy.config.rbac.v3.Action: the actions of an RBAC matcher (TrafficPolicy rbac).
  ["./gen/envoy/config/rbac/v3/rbac_pb.js", "file_envoy_config_rbac_v3_rbac"],
  [
    "./gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js",
    "file_envoy_extensions_filters_http_rbac_v3_rbac",
  ],
  [
    "./gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js",
    "file_envoy_extensions_filters_network_rbac_v3_rbac",
  ],
  [
    "./gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js",
    "file_envoy_extensions_filters_http_jwt_authn_v3_config",
  ],
  [
    "./gen/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb.js",
    "file_envoy_extensions_path_match_uri_template_v3_uri_template_match",
  ],
  [
    "./gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js",
    "file_envoy_extensions_filters_http_ext_authz_v3_ext_authz",
  ],
  [
    "./gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz_pb.js",
    "file_envoy_extensions_filters_network_ext_authz_v3_ext_authz",
  ],
  [
    "./gen/envoy/extensions/filters/http/cors/v3/cors_pb.js",
    "file_envoy_extensions_filters_http_cors_v3_cors",
  ],
  [
    "./gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js",
    "file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit",
  ],
  [
    "./gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.js",
    "file_envoy_extensions_filters_http_buffer_v3_buffer",
  ],
  [
    "./gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js",
    "file_envoy_extensions_filters_http_ratelimit_v3_rate_limit",
  ],
  [
    "./gen/envoy/extensions/filters/http/ext_proc/v3/ext_proc_pb.js",
    "file_envoy_extensions_filters_http_ext_proc_v3_ext_proc",
  ],
  [
    "./gen/envoy/extensions/filters/http/oauth2/v3/oauth_pb.js",
    "file_envoy_extensions_filters_http_oauth2_v3_oauth",
  ],
  [
    "./gen/envoy/extensions/filters/http/header_mutation/v3/header_mutation_pb.js",
    "file_envoy_extensions_filters_http_header_mutation_v3_header_mutation",
  ],
  [
    "./gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.js",
    "file_envoy_extensions_filters_http_csrf_v3_csrf",
  ],
  [
    "./gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js",
    "file_envoy_extensions_transport_sockets_tls_v3_tls",
  ],
  // Secret: the SDS resources (OAuth2's client and HMAC secrets).
  [
    "./gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js",
    "file_envoy_extensions_transport_sockets_tls_v3_secret",
  ],
  [
    "./gen/envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation_pb.js",
    "file_envoy_extensions_http_early_header_mutation_header_mutation_v3_header_mutation",
  ],
  [
    "./gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js",
    "file_envoy_extensions_filters_http_compressor_v3_compressor",
  ],
  [
    "./gen/envoy/extensions/filters/http/decompressor/v3/decompressor_pb.js",
    "file_envoy_extensions_filters_http_decompressor_v3_decompressor",
  ],
  [
    "./gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.js",
    "file_envoy_extensions_compression_gzip_compressor_v3_gzip",
  ],
  [
    "./gen/envoy/extensions/compression/gzip/decompressor/v3/gzip_pb.js",
    "file_envoy_extensions_compression_gzip_decompressor_v3_gzip",
  ],
  [
    "./gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.js",
    "file_envoy_extensions_compression_brotli_compressor_v3_brotli",
  ],
  [
    "./gen/envoy/extensions/compression/brotli/decompressor/v3/brotli_pb.js",
    "file_envoy_extensions_compression_brotli_decompressor_v3_brotli",
  ],
  [
    "./gen/envoy/extensions/compression/zstd/compressor/v3/zstd_pb.js",
    "file_envoy_extensions_compression_zstd_compressor_v3_zstd",
  ],
  [
    "./gen/envoy/extensions/compression/zstd/decompressor/v3/zstd_pb.js",
    "file_envoy_extensions_compression_zstd_decompressor_v3_zstd",
  ],
  [
    "./gen/envoy/extensions/filters/http/fault/v3/fault_pb.js",
    "file_envoy_extensions_filters_http_fault_v3_fault",
  ],
  [
    "./gen/envoy/extensions/filters/http/api_key_auth/v3/api_key_auth_pb.js",
    "file_envoy_extensions_filters_http_api_key_auth_v3_api_key_auth",
  ],
  [
    "./gen/envoy/extensions/filters/http/basic_auth/v3/basic_auth_pb.js",
    "file_envoy_extensions_filters_http_basic_auth_v3_basic_auth",
  ],
  [
    "./gen/envoy/extensions/filters/http/set_metadata/v3/set_metadata_pb.js",
    "file_envoy_extensions_filters_http_set_metadata_v3_set_metadata",
  ],
  ["./gen/envoy/config/trace/v3/opentelemetry_pb.js", "file_envoy_config_trace_v3_opentelemetry"],
  ["./gen/xds/type/matcher/v3/cel_pb.js", "file_xds_type_matcher_v3_cel"],
  ["./gen/xds/type/matcher/v3/http_inputs_pb.js", "file_xds_type_matcher_v3_http_inputs"],
];
let built: Registry | undefined;
function builtRegistry(): Registry {
  built ??= createRegistry(
    file_envoy_service_discovery_v3_discovery,
    ...REGISTRY_FILES.map(([path, name]) => (requireGen(path) as Record<string, DescFile>)[name]!),
  );
  return built;
}
/**
 * Every message of the generated files, for Any packing and JSON (built on the first use of any of
 * its methods).
 */
export const registry: Registry = new Proxy({} as Registry, {
  get(_, key) {
    const r = builtRegistry();
    const v: unknown = Reflect.get(r, key, r);
    return typeof v === "function" ? v.bind(r) : v;
  },
  has: (_, key) => Reflect.has(builtRegistry(), key),
});

/** Thrown when a resource's JSON does not match its proto (unknown field, wrong type, unknown @type). */
export class EncodeError extends WaymarkError {
  readonly typeUrl: string;
  readonly resourceName: string;
  constructor(typeUrl: string, resourceName: string, message: string) {
    super("invalid-resource", `${typeUrl} ${resourceName}: ${message}`);
    this.name = "EncodeError";
    this.typeUrl = typeUrl;
    this.resourceName = resourceName;
  }
}

function schemaOf(typeUrl: string) {
  const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const schema = registry.getMessage(typeName);
  if (!schema) throw new EncodeError(typeUrl, "", `unknown message type ${typeName}`);
  return schema;
}

/**
 * Encodes one resource from proto3 JSON (nested Any fields carry "@type") to binary. Unknown fields
 * are errors, never dropped. The same JSON always gives the same bytes.
 */
export function encodeResource(typeUrl: string, name: string, json: JsonObject): Uint8Array {
  const schema = schemaOf(typeUrl);
  try {
    return toBinary(schema, fromJson(schema, json, { registry }));
  } catch (e) {
    throw new EncodeError(typeUrl, name, e instanceof Error ? e.message : String(e));
  }
}

export { encodeRouteConfiguration, type RouteBytesCache } from "./route-splice.ts";

/** Decodes a resource's bytes back to proto3 JSON (for config dumps, goldens and tests). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): JsonValue {
  const schema = schemaOf(typeUrl);
  return toJson(schema, fromBinary(schema, bytes), { registry });
}

/** Content hash of encoded bytes: the same on every replica for the same content. */
export function contentHash(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 32);
}

/** Version of a set of named resources: a hash over their sorted (name, hash) pairs. */
export function versionOf(resources: ReadonlyMap<string, string> | Record<string, string>): string {
  const entries = resources instanceof Map ? [...resources] : Object.entries(resources);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return contentHash(entries.map(([n, h]) => `${n}\u0000${h}`).join("\n"));
}

function method<I, O>(
  name: string,
  reqDecode: (b: Uint8Array) => I,
  resEncode: (m: O) => Uint8Array,
  reqEncode: (m: I) => Uint8Array,
  resDecode: (b: Uint8Array) => O,
) {
  return {
    path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: I) => Buffer.from(reqEncode(m)),
    requestDeserialize: (b: Buffer) => reqDecode(b),
    responseSerialize: (m: O) => Buffer.from(resEncode(m)),
    responseDeserialize: (b: Buffer) => resDecode(b),
  } as const;
}

/**
 * The ADS service in @grpc/grpc-js's ServiceDefinition shape (usable by `server.addService` and
 * `makeGenericClientConstructor`). Responses may also be passed pre-encoded as a Buffer, which is
 * written as-is: encode a shared response once and fan it out.
 */
export const adsService = {
  StreamAggregatedResources: method<DiscoveryRequest, DiscoveryResponse | Buffer>(
    "StreamAggregatedResources",
    (b) => fromBinary(DiscoveryRequestSchema, b),
    (m) => (Buffer.isBuffer(m) ? m : toBinary(DiscoveryResponseSchema, m)),
    (m) => toBinary(DiscoveryRequestSchema, m),
    (b) => fromBinary(DiscoveryResponseSchema, b),
  ),
  DeltaAggregatedResources: method<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>(
    "DeltaAggregatedResources",
    (b) => fromBinary(DeltaDiscoveryRequestSchema, b),
    (m) => (Buffer.isBuffer(m) ? m : toBinary(DeltaDiscoveryResponseSchema, m)),
    (m) => toBinary(DeltaDiscoveryRequestSchema, m),
    (b) => fromBinary(DeltaDiscoveryResponseSchema, b),
  ),
} as const;
