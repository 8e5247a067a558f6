// AuthorizationPolicy `action: CUSTOM` on an HTTP chain, as Istio builds it: an RBAC filter in
// shadow mode whose shadow rules are the CUSTOM policies' rules (stat prefix istio_ext_authz_), so a
// request they match gets the matching policy's name in dynamic metadata
// (`istio_ext_authz_shadow_effective_policy_id`, prefixed `istio-ext-authz-`), then an ext_authz
// filter enabled only by that metadata: the provider is asked about the requests the rules match and
// nothing else. It runs before the DENY and ALLOW filters (after AUDIT), as in Istio.
//
// One provider per chain, as Istio enforces one per workload: the first CUSTOM policy's provider is
// called; a policy naming another provider, or one the mesh config does not have, or whose Service is
// missing, keeps the fail-closed reading (its rules deny what they match, in the DENY filter) and its
// status says why. Dry run does not apply (Istio calls a dry-run CUSTOM policy's provider too).
import {
  type ExtAuthzJson,
  type HttpFilterJson,
  type RbacPolicyJson,
  StatusCodeSchema,
} from "@waymark/envoy-proto";
import type { ObjectIndex } from "../input/objects.ts";
import { pack } from "../ir/any.ts";
import { type BackendTarget, serviceTarget } from "../routes/backends.ts";
import type { AuthzProblem, BoundPolicy, TrustDomains } from "./contract.ts";
import type { ExtAuthzProvider, MeshProviders } from "./mesh-config.ts";
import { customProviderCause, customProviderName, translatePolicy } from "./rbac/rules.ts";

/** The shadow RBAC filter (Envoy writes its metadata under this name). */
export const CUSTOM_RBAC_FILTER = "envoy.filters.http.rbac";
export const CUSTOM_EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
const SHADOW_PREFIX = "istio_ext_authz_";
const POLICY_PREFIX = "istio-ext-authz";
const DEFAULT_TIMEOUT = "600s";
const DEFAULT_STATUS_ON_ERROR = 403;

export interface CustomSplit {
  /** The CUSTOM policies whose provider is called. */
  called: BoundPolicy[];
  /** Everything else: other actions, and CUSTOM policies with customFallback set (they deny). */
  rest: BoundPolicy[];
  provider?: { provider: ExtAuthzProvider; backend: BackendTarget };
}

const isCustom = (p: BoundPolicy) =>
  typeof p.spec === "object" && p.spec !== null && (p.spec as { action?: unknown }).action === "CUSTOM";

function resolveProvider(
  provider: ExtAuthzProvider,
  index: ObjectIndex,
): { ok: true; backend: BackendTarget } | { ok: false; cause: string } {
  const { namespace, name } = provider.service;
  const svc = index.service(namespace, name);
  const label = `extension provider ${JSON.stringify(provider.name)}: Service ${namespace}/${name}`;
  if (!svc) return { ok: false, cause: `${label} was not found` };
  const port = svc.ports.find((p) => p.port === provider.port);
  if (!port) return { ok: false, cause: `${label} has no port ${provider.port}` };
  let backend = serviceTarget(svc, port);
  // gRPC needs HTTP/2: a port that does not say so gets a cluster of its own with HTTP/2.
  const keyword = (port.appProtocol || port.name || "").split("-")[0]!.toLowerCase();
  if (provider.kind === "grpc" && keyword !== "grpc" && keyword !== "http2")
    backend = { ...backend, port: { ...port, appProtocol: "grpc" }, cluster: `${backend.cluster}_grpc` };
  return { ok: true, backend };
}

/** Which CUSTOM policies of a chain call their provider, and why the others do not. */
export function splitCustom(
  policies: readonly BoundPolicy[],
  protocol: "http" | "tcp",
  mesh: MeshProviders,
  index: ObjectIndex,
): CustomSplit {
  const out: CustomSplit = { called: [], rest: [] };
  const { providers } = mesh;
  const known = providers.map((p) => p.name);
  for (const p of policies) {
    if (!isCustom(p)) {
      out.rest.push(p);
      continue;
    }
    const name = customProviderName(p.spec);
    const provider = name === undefined ? undefined : providers.find((x) => x.name === name);
    let fallback: string | undefined;
    if (mesh.error !== undefined) fallback = mesh.error;
    else if (!provider) fallback = customProviderCause(p.spec, known, mesh.source);
    else if (protocol === "tcp")
      fallback = `extension provider ${JSON.stringify(name)}: CUSTOM is not served on TCP chains by Waymark yet`;
    else if (out.provider && out.provider.provider.name !== name)
      fallback = `only one provider can be used per waypoint: ${JSON.stringify(out.provider.provider.name)} is in use, not ${JSON.stringify(name)}`;
    else if (!out.provider) {
      const r = resolveProvider(provider, index);
      if (r.ok) out.provider = { provider, backend: r.backend };
      else fallback = r.cause;
    }
    if (fallback === undefined) out.called.push({ ...p, customCalled: true });
    else out.rest.push({ ...p, customFallback: fallback });
  }
  return out;
}

function headerMatchers(names: readonly string[]) {
  return {
    patterns: names.map((h) =>
      h.endsWith("*") ? { prefix: h.slice(0, -1), ignoreCase: true } : { exact: h, ignoreCase: true },
    ),
  };
}

/** The ext_authz filter config of a provider, enabled only by the shadow RBAC filter's metadata. */
export function extAuthzConfig(provider: ExtAuthzProvider, backend: BackendTarget): ExtAuthzJson {
  const timeout = provider.timeout ?? DEFAULT_TIMEOUT;
  const config: ExtAuthzJson = { transportApiVersion: "V3" };
  const host = `${backend.service.name}.${backend.service.namespace}.svc.cluster.local`;
  if (provider.kind === "grpc") {
    config.grpcService = { envoyGrpc: { clusterName: backend.cluster, authority: host }, timeout };
  } else {
    const service: NonNullable<ExtAuthzJson["httpService"]> = {
      serverUri: { uri: `http://${host}:${provider.port}`, cluster: backend.cluster, timeout },
    };
    if (provider.pathPrefix) service.pathPrefix = provider.pathPrefix;
    const add = Object.entries(provider.includeAdditionalHeadersInCheck ?? {});
    if (add.length)
      service.authorizationRequest = { headersToAdd: add.map(([key, value]) => ({ key, value })) };
    const response: NonNullable<NonNullable<ExtAuthzJson["httpService"]>["authorizationResponse"]> = {};
    if (provider.headersToUpstreamOnAllow?.length)
      response.allowedUpstreamHeaders = headerMatchers(provider.headersToUpstreamOnAllow);
    if (provider.headersToDownstreamOnDeny?.length)
      response.allowedClientHeaders = headerMatchers(provider.headersToDownstreamOnDeny);
    if (Object.keys(response).length) service.authorizationResponse = response;
    config.httpService = service;
  }
  if (provider.includeRequestHeadersInCheck?.length)
    config.allowedHeaders = headerMatchers(provider.includeRequestHeadersInCheck);
  if (provider.includeRequestBodyInCheck) config.withRequestBody = { ...provider.includeRequestBodyInCheck };
  if (provider.failOpen) config.failureModeAllow = true;
  const code = provider.statusOnError ?? DEFAULT_STATUS_ON_ERROR;
  const known =
    StatusCodeSchema.values.find((v) => v.number === code) ??
    StatusCodeSchema.values.find((v) => v.number === 403)!;
  config.statusOnError = { code: known.name as NonNullable<ExtAuthzJson["statusOnError"]>["code"] };
  config.filterEnabledMetadata = {
    filter: CUSTOM_RBAC_FILTER,
    path: [{ key: `${SHADOW_PREFIX}shadow_effective_policy_id` }],
    value: { stringMatch: { prefix: POLICY_PREFIX } },
  };
  return config;
}

/** The shadow RBAC filter and the ext_authz filter of the called CUSTOM policies. */
export function customFilters(
  split: CustomSplit,
  td: TrustDomains,
): { filters: HttpFilterJson[]; problems: AuthzProblem[] } {
  if (!split.provider || split.called.length === 0) return { filters: [], problems: [] };
  const policies: Record<string, RbacPolicyJson> = {};
  const problems: AuthzProblem[] = [];
  for (const p of split.called) {
    const t = translatePolicy(p, td, "http");
    problems.push(...t.problems);
    for (const [name, policy] of Object.entries(t.policies)) policies[`${POLICY_PREFIX}-${name}`] = policy;
  }
  const rbac = {
    shadowRules: { action: "DENY" as const, policies },
    shadowRulesStatPrefix: SHADOW_PREFIX,
  };
  return {
    filters: [
      { name: CUSTOM_RBAC_FILTER, typedConfig: pack("envoy.extensions.filters.http.rbac.v3.RBAC", rbac) },
      {
        name: CUSTOM_EXT_AUTHZ_FILTER,
        typedConfig: pack(
          "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
          extAuthzConfig(split.provider.provider, split.provider.backend),
        ),
      },
    ],
    problems,
  };
}
