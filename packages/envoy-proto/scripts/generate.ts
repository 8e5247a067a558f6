// Generates protobuf-es code for the Envoy xDS API subset Waymark uses.
// Source: the protos that @grpc/grpc-js-xds vendors (envoy-api, xds, googleapis, protoc-gen-validate).
// The output goes to src/gen (not committed); `pnpm generate` runs this, and so does the test command.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(pkgDir, "package.json"));
const depsDir = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const buildDir = join(pkgDir, ".proto-build");
const outDir = join(pkgDir, "src", "gen");
const bin = join(pkgDir, "node_modules", ".bin");

/** The protos Waymark generates code for; their imports come along. */
export const ROOTS = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto",
  // TLSRoute: SNI of TLS passed through (issue 16).
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/set_filter_state/v3/set_filter_state.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/lua/v3/lua.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  // Istio authorization (issue 13) and the TrafficPolicy / GatewayExtension filters that follow.
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/path/match/uri_template/v3/uri_template_match.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/http/buffer/v3/buffer.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto",
  // The ext_proc gRPC service: the e2e tests' processing server speaks it.
  "envoy/service/ext_proc/v3/external_processor.proto",
  "envoy/extensions/filters/http/oauth2/v3/oauth.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/csrf/v3/csrf.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation.proto",
  // TrafficPolicy features (issue 14).
  "envoy/extensions/filters/http/compressor/v3/compressor.proto",
  "envoy/extensions/filters/http/decompressor/v3/decompressor.proto",
  "envoy/extensions/compression/gzip/compressor/v3/gzip.proto",
  "envoy/extensions/compression/gzip/decompressor/v3/gzip.proto",
  "envoy/extensions/compression/brotli/compressor/v3/brotli.proto",
  "envoy/extensions/compression/brotli/decompressor/v3/brotli.proto",
  "envoy/extensions/compression/zstd/compressor/v3/zstd.proto",
  "envoy/extensions/compression/zstd/decompressor/v3/zstd.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/basic_auth/v3/basic_auth.proto",
  "envoy/extensions/filters/http/set_metadata/v3/set_metadata.proto",
  // The waypoint's tracing provider (WAYMARK_WAYPOINT_TRACING): OpenTelemetry over gRPC.
  "envoy/config/trace/v3/opentelemetry.proto",
  "xds/type/matcher/v3/cel.proto",
  "xds/type/matcher/v3/http_inputs.proto",
  // Not vendored by @grpc/grpc-js-xds: our own copy of the wire shape, in proto-extra/.
  "envoy/extensions/filters/http/api_key_auth/v3/api_key_auth.proto",
];

/** Protos the vendored set lacks, kept in this package (proto-extra/, same paths). */
const extraDir = join(pkgDir, "proto-extra");

/** Lines inserted after an anchor of a vendored proto (fields the vendored copy predates). */
const OVERLAYS = [
  {
    // RouteMatch.filter_state (upstream field 16): consumer HTTPRoutes match the client's namespace.
    file: "envoy/config/route/v3/route_components.proto",
    anchor: "repeated type.matcher.v3.MetadataMatcher dynamic_metadata = 13;",
    insert: "  repeated type.matcher.v3.FilterStateMatcher filter_state = 16;",
  },
  {
    file: "envoy/config/route/v3/route_components.proto",
    anchor: 'import "envoy/type/matcher/v3/metadata.proto";',
    insert: 'import "envoy/type/matcher/v3/filter_state.proto";',
  },
  {
    // CelExpression.cel_expr_parsed (upstream field 3, outside the oneof): Envoy 1.40 evaluates a parsed
    // AST given there (TrafficPolicy rbac). Upstream types it cel.expr.ParsedExpr, which the vendored set
    // lacks; google.api.expr.v1alpha1.ParsedExpr is its wire-identical ancestor (same messages, same
    // field numbers for everything Waymark emits), so the bytes are what Envoy expects.
    file: "xds/type/v3/cel.proto",
    anchor: "    google.api.expr.v1alpha1.CheckedExpr checked_expr = 2;\n  }",
    insert: "  google.api.expr.v1alpha1.ParsedExpr cel_expr_parsed = 3;",
  },
  {
    // ProcessingMode.BodySendMode FULL_DUPLEX_STREAMED (upstream value 4), a mode kgateway's CRD offers.
    file: "envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto",
    anchor: "    BUFFERED_PARTIAL = 3;",
    insert: "    FULL_DUPLEX_STREAMED = 4;",
  },
  {
    // ExternalProcessor.allowed_override_modes (upstream field 22): the modes a server may ask for
    // (GatewayExtension extProc.allowedProcessingModeOverrides).
    file: "envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto",
    anchor: "  google.protobuf.Duration deferred_close_timeout = 19;",
    insert: "  repeated ProcessingMode allowed_override_modes = 22;",
  },
  {
    // HttpService.retry_policy (upstream field 9, read from Envoy 1.40's own descriptor): retries of
    // an HTTP authorization server's calls (GatewayExtension extAuth.httpService.retry).
    file: "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
    anchor: "  AuthorizationResponse authorization_response = 8;",
    insert: "  config.core.v3.RetryPolicy retry_policy = 9;",
  },
  // OAuth2 (GatewayExtension OAuth2): fields and messages newer than the vendored oauth.proto, with
  // their upstream numbers (Envoy 1.40): the cookie domain, the end-session endpoint, turning off the
  // access and refresh token cookies, and the cookies' SameSite attribute.
  {
    file: "envoy/extensions/filters/http/oauth2/v3/oauth.proto",
    anchor: "  CookieNames cookie_names = 4;",
    insert: "  string cookie_domain = 5;",
  },
  {
    file: "envoy/extensions/filters/http/oauth2/v3/oauth.proto",
    anchor: "  bool disable_id_token_set_cookie = 17;",
    insert: [
      "  bool disable_access_token_set_cookie = 19;",
      "  bool disable_refresh_token_set_cookie = 20;",
      "  CookieConfigs cookie_configs = 21;",
      "  string end_session_endpoint = 23;",
    ].join("\n"),
  },
  {
    file: "envoy/extensions/filters/http/oauth2/v3/oauth.proto",
    anchor: "option (udpa.annotations.file_status).package_version_status = ACTIVE;",
    insert: [
      "message CookieConfig {",
      "  enum SameSite { DISABLED = 0; STRICT = 1; LAX = 2; NONE = 3; }",
      "  SameSite same_site = 1;",
      "}",
      "message CookieConfigs {",
      "  CookieConfig bearer_token_cookie_config = 1;",
      "  CookieConfig oauth_hmac_cookie_config = 2;",
      "  CookieConfig oauth_expires_cookie_config = 3;",
      "  CookieConfig id_token_cookie_config = 4;",
      "  CookieConfig refresh_token_cookie_config = 5;",
      "  CookieConfig oauth_nonce_cookie_config = 6;",
      "  CookieConfig code_verifier_cookie_config = 7;",
      "}",
    ].join("\n"),
  },
];

const stamp = join(outDir, ".stamp");
const want = JSON.stringify({
  roots: ROOTS,
  overlays: OVERLAYS,
  deps: readFileSync(join(depsDir, "..", "package.json"), "utf8").length,
  extra: readFileSync(
    join(extraDir, "envoy/extensions/filters/http/api_key_auth/v3/api_key_auth.proto"),
    "utf8",
  ),
});
if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) process.exit(0);

rmSync(buildDir, { recursive: true, force: true });
mkdirSync(buildDir, { recursive: true });
for (const part of ["envoy-api", "xds", "googleapis", "protoc-gen-validate"]) {
  cpSync(join(depsDir, part), buildDir, {
    recursive: true,
    filter: (src) => !src.includes("/java") && !src.includes("/tests"),
  });
}
cpSync(extraDir, buildDir, { recursive: true });
// The vendored validate.proto predates StringRules.ignore_empty (field 26), which envoy-api uses.
const validate = join(buildDir, "validate", "validate.proto");
const text = readFileSync(validate, "utf8");
const anchor = "optional bool strict = 25 [default = true];";
if (!text.includes(anchor)) throw new Error("validate.proto changed shape; update the ignore_empty patch");
writeFileSync(validate, text.replace(anchor, `${anchor}\n  optional bool ignore_empty = 26;`));
// Fields newer than the vendored envoy-api, added with their upstream field numbers (Envoy 1.40).
for (const o of OVERLAYS) {
  const file = join(buildDir, o.file);
  // Some vendored files have CRLF line ends; anchors are written with LF.
  const source = readFileSync(file, "utf8").replaceAll("\r\n", "\n");
  if (!source.includes(o.anchor)) throw new Error(`${o.file} changed shape; update the overlay`);
  writeFileSync(file, source.replace(o.anchor, `${o.anchor}\n${o.insert}`));
}

writeFileSync(join(buildDir, "buf.yaml"), "version: v2\nmodules:\n  - path: .\n");
writeFileSync(
  join(buildDir, "buf.gen.yaml"),
  [
    "version: v2",
    "plugins:",
    `  - local: ${join(bin, "protoc-gen-es")}`,
    `    out: ${outDir}`,
    "    include_imports: true",
    "    opt: [target=js+dts, import_extension=js, json_types=true]",
    "",
  ].join("\n"),
);
rmSync(outDir, { recursive: true, force: true });
execFileSync(join(bin, "buf"), ["generate", ...ROOTS.flatMap((r) => ["--path", r])], {
  cwd: buildDir,
  stdio: "inherit",
});
rmSync(buildDir, { recursive: true, force: true });
writeFileSync(stamp, want);
console.log(`generated Envoy protos into ${outDir}`);
