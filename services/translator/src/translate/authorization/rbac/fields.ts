// Every `from.source` and `to.operation` field and every `when` key, each as the Envoy matcher of one
// value (docs/design/authorization.md §3, §4). A field's values are ORed by the caller.
import type { RbacPermissionJson, RbacPrincipalJson, StringMatcherJson } from "@waymark/envoy-proto";
import { PEER_PRINCIPAL_FILTER_STATE_KEY } from "../../input/names.ts";
import { JWT_FILTER_NAME, JWT_PAYLOAD_KEY, type TrustDomains } from "../contract.ts";
import {
  claimMatch,
  headerMatch,
  isTemplate,
  parseCidr,
  parsePort,
  pathProblem,
  re2Escape,
  regex,
  stringClaimMatch,
  stringMatch,
  templatePattern,
} from "./matchers.ts";

const SPIFFE = "spiffe://";
/** The trust domain a policy's `cluster.local` always stands for (the local one and its aliases). */
const DEFAULT_TRUST_DOMAIN = "cluster.local";
const URI_TEMPLATE_EXTENSION = "envoy.path.match.uri_template.uri_template_matcher";

/** How one field's values become matchers on one side of an Envoy policy. */
export type FieldSpec =
  | {
      side: "principal";
      httpOnly: boolean;
      /** Why the value cannot be used, or undefined. */
      invalid(v: string): string | undefined;
      /** The matchers of one value (ORed; more than one when trust-domain aliases expand it). */
      build(v: string): RbacPrincipalJson[];
    }
  | {
      side: "permission";
      httpOnly: boolean;
      invalid(v: string): string | undefined;
      build(v: string): RbacPermissionJson[];
    };

const nonEmpty = (v: string) => (v === "" ? "empty value" : undefined);

const peer = (m: StringMatcherJson): RbacPrincipalJson => ({
  filterState: { key: PEER_PRINCIPAL_FILTER_STATE_KEY, stringMatch: m },
});

/** The trust-domain bundle: the mesh trust domain first, then its aliases. */
const bundleOf = (td: TrustDomains) => [td.trustDomain, ...td.aliases];

/** Whether `pattern` (a trust domain with at most a leading or trailing `*`) covers `name`. */
function covers(pattern: string, name: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith("*")) return name.endsWith(pattern.slice(1));
  return pattern === name;
}

/**
 * Trust-domain aliases (§4): a `<td>/ns/<ns>/sa/<sa>` principal whose trust domain is
 * `cluster.local` or one of the bundle (either side may carry a wildcard) stands for the same
 * identity in every trust domain of the bundle. A wildcard trust domain that already covers a member
 * of the bundle is kept as written for that member. Other values are kept as they are.
 */
export function expandPrincipal(v: string, td: TrustDomains): string[] {
  const parts = v.split("/");
  if (parts.length !== 5 || parts[0] === "*") return [v];
  const domain = parts[0]!;
  const bundle = bundleOf(td);
  const local = domain === DEFAULT_TRUST_DOMAIN || bundle.some((m) => covers(m, domain) || covers(domain, m));
  if (!local) return [v];
  const out: string[] = [];
  for (const member of bundle) {
    const keep = domain.startsWith("*") && member.endsWith(domain.slice(1));
    const value = keep ? v : [member, ...parts.slice(1)].join("/");
    if (!out.includes(value)) out.push(value);
  }
  return out;
}

function principals(td: TrustDomains): FieldSpec {
  return {
    side: "principal",
    httpOnly: false,
    invalid: nonEmpty,
    build: (v) => expandPrincipal(v, td).map((p) => peer(stringMatch(p, SPIFFE))),
  };
}

/** `namespaces`: `.*\/ns/<value>/.*` on the peer identity, each `*` of the value a `.*`. */
const namespaces: FieldSpec = {
  side: "principal",
  httpOnly: false,
  invalid: nonEmpty,
  build: (v) => [peer(regex(`.*/ns/${v.split("*").map(re2Escape).join(".*")}/.*`))],
};

/** `serviceAccounts`: `sa` or `ns/sa`, the namespace defaulting to the policy's; no wildcards. */
function serviceAccounts(policyNamespace: string): FieldSpec {
  return {
    side: "principal",
    httpOnly: false,
    invalid: (v) => {
      if (v === "") return "empty value";
      if (v.includes("*")) return `a service account has no wildcards: ${v}`;
      if (v.length > 320) return "a service account is at most 320 characters";
      const parts = v.split("/");
      if (parts.length > 2 || parts.some((p) => p === "")) return `not <namespace>/<name> or <name>: ${v}`;
      return undefined;
    },
    build: (v) => {
      const [ns, sa] = v.includes("/") ? v.split("/") : [policyNamespace, v];
      return [peer(regex(`spiffe://.+/ns/${re2Escape(ns!)}/(.+/|)sa/${re2Escape(sa!)}(/.+)?`))];
    },
  };
}

function oneWildcardAtAnEnd(v: string): string | undefined {
  if (v === "") return "empty value";
  const stars = v.split("*").length - 1;
  if (stars === 0 || v === "*") return undefined;
  if (stars === 1 && (v.startsWith("*") || v.endsWith("*"))) return undefined;
  return `only one * at the start or end is allowed: ${v}`;
}

/** `trustDomains`: a member of the bundle stands for the whole bundle. */
function trustDomains(td: TrustDomains, allowSlash: boolean): FieldSpec {
  const bundle = bundleOf(td);
  const one = (d: string): RbacPrincipalJson => {
    if (d === "*") return peer({ prefix: SPIFFE });
    const star = d.indexOf("*");
    if (star < 0) return peer({ prefix: `${SPIFFE}${d}/` });
    return peer(regex(`spiffe://${re2Escape(d.slice(0, star))}[^/]*${re2Escape(d.slice(star + 1))}/.*`));
  };
  return {
    side: "principal",
    httpOnly: false,
    invalid: (v) =>
      oneWildcardAtAnEnd(v) ?? (!allowSlash && v.includes("/") ? `a trust domain has no /: ${v}` : undefined),
    build: (v) => (bundle.includes(v) ? bundle : [v]).map(one),
  };
}

const cidrInvalid = (v: string) => (parseCidr(v) ? undefined : `not an IP address or CIDR: ${v}`);

/** `ipBlocks` / `source.ip`: the PROXY header's source (`source_ip`, not `direct_remote_ip`: §4). */
const sourceIp: FieldSpec = {
  side: "principal",
  httpOnly: false,
  invalid: cidrInvalid,
  build: (v) => [{ sourceIp: parseCidr(v)! }],
};

/** `remoteIpBlocks` / `remote.ip`: the client per X-Forwarded-For and the HCM's trusted hops. */
const remoteIp: FieldSpec = {
  side: "principal",
  httpOnly: false,
  invalid: cidrInvalid,
  build: (v) => [{ remoteIp: parseCidr(v)! }],
};

const payload = (...path: string[]) => [JWT_PAYLOAD_KEY, ...path];

/**
 * `requestPrincipals` / `request.auth.principal`: `<iss>/<sub>` split at the last `/`, the issuer
 * and subject matched together on the JWT payload; `*` needs both non-empty; a leading `*` is an
 * issuer suffix with an exact subject (or, with no `/`, any issuer and a subject suffix); a trailing
 * `*` an exact issuer with a subject prefix (or, with no `/`, an issuer prefix and any subject).
 */
const requestPrincipals: FieldSpec = {
  side: "principal",
  httpOnly: true,
  invalid: nonEmpty,
  build: (v) => {
    const any = regex(".+");
    const slash = v.lastIndexOf("/");
    const iss = slash < 0 ? v : v.slice(0, slash);
    const sub = slash < 0 ? "" : v.slice(slash + 1);
    let mi: StringMatcherJson;
    let ms: StringMatcherJson;
    if (v === "*") [mi, ms] = [any, any];
    else if (v.startsWith("*")) {
      if (slash >= 0) [mi, ms] = [iss === "*" ? any : { suffix: iss.slice(1) }, { exact: sub }];
      else [mi, ms] = [any, { suffix: v.slice(1) }];
    } else if (v.endsWith("*")) {
      if (slash >= 0) [mi, ms] = [{ exact: iss }, sub === "*" ? any : { prefix: sub.slice(0, -1) }];
      else [mi, ms] = [{ prefix: v.slice(0, -1) }, any];
    } else [mi, ms] = [{ exact: iss }, { exact: sub }];
    return [
      {
        andIds: {
          ids: [
            { metadata: stringClaimMatch(JWT_FILTER_NAME, payload("iss"), mi) },
            { metadata: stringClaimMatch(JWT_FILTER_NAME, payload("sub"), ms) },
          ],
        },
      },
    ];
  },
};

function claim(path: readonly string[]): FieldSpec {
  return {
    side: "principal",
    httpOnly: true,
    invalid: nonEmpty,
    build: (v) => [{ metadata: claimMatch(JWT_FILTER_NAME, payload(...path), v) }],
  };
}

/** `request.headers[name]`: case-sensitive value, `*` is presence. */
function requestHeader(name: string): FieldSpec {
  return {
    side: "principal",
    httpOnly: true,
    invalid: nonEmpty,
    build: (v) => [{ header: headerMatch(name, v) }],
  };
}

/** `hosts`: the whole `:authority` (port included), ignoring case. */
const hosts: FieldSpec = {
  side: "permission",
  httpOnly: true,
  invalid: nonEmpty,
  build: (v) => [{ header: headerMatch(":authority", v, true) }],
};

const methods: FieldSpec = {
  side: "permission",
  httpOnly: true,
  invalid: nonEmpty,
  build: (v) => [{ header: headerMatch(":method", v) }],
};

/** `paths`: templates through uri_template, the rest a `url_path` string matcher (no query). */
const paths: FieldSpec = {
  side: "permission",
  httpOnly: true,
  invalid: pathProblem,
  build: (v) => {
    if (!isTemplate(v)) return [{ urlPath: { path: stringMatch(v) } }];
    return [
      {
        uriTemplate: {
          name: URI_TEMPLATE_EXTENSION,
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
            pathTemplate: templatePattern(v),
          },
        },
      },
    ];
  },
};

const ports: FieldSpec = {
  side: "permission",
  httpOnly: false,
  invalid: (v) => (parsePort(v) === undefined ? `not a port: ${v}` : undefined),
  build: (v) => [{ destinationPort: parsePort(v)! }],
};

const destinationIp: FieldSpec = {
  side: "permission",
  httpOnly: false,
  invalid: cidrInvalid,
  build: (v) => [{ destinationIp: parseCidr(v)! }],
};

/** `connection.sni`: the TLS server name (empty on plaintext, which matches no value). */
const sni: FieldSpec = {
  side: "permission",
  httpOnly: false,
  invalid: nonEmpty,
  build: (v) => [{ requestedServerName: stringMatch(v) }],
};

export const SOURCE_FIELDS = [
  "principals",
  "requestPrincipals",
  "namespaces",
  "serviceAccounts",
  "trustDomains",
  "ipBlocks",
  "remoteIpBlocks",
] as const;
export const OPERATION_FIELDS = ["hosts", "ports", "methods", "paths"] as const;

export function sourceField(
  f: (typeof SOURCE_FIELDS)[number],
  policyNamespace: string,
  td: TrustDomains,
): FieldSpec {
  switch (f) {
    case "principals":
      return principals(td);
    case "requestPrincipals":
      return requestPrincipals;
    case "namespaces":
      return namespaces;
    case "serviceAccounts":
      return serviceAccounts(policyNamespace);
    case "trustDomains":
      return trustDomains(td, false);
    case "ipBlocks":
      return sourceIp;
    case "remoteIpBlocks":
      return remoteIp;
  }
}

export function operationField(f: (typeof OPERATION_FIELDS)[number]): FieldSpec {
  switch (f) {
    case "hosts":
      return hosts;
    case "ports":
      return ports;
    case "methods":
      return methods;
    case "paths":
      return paths;
  }
}

/** `[name]` → name (not empty, no brackets inside). */
function bracketed(s: string): string | undefined {
  const m = /^\[([^[\]]+)\]$/.exec(s);
  return m ? m[1] : undefined;
}

/** `[a][b]…` → [a, b, …]. */
function claimPath(s: string): string[] | undefined {
  if (!/^(\[[^[\]]+\])+$/.test(s)) return undefined;
  return [...s.matchAll(/\[([^[\]]+)\]/g)].map((m) => m[1]!);
}

/** Characters Envoy refuses in a header name (its HTTP_HEADER_NAME check, non-strict). */
const BAD_HEADER_NAME = /[\0\r\n]/;

export type WhenKey =
  | { kind: "field"; spec: FieldSpec }
  /** A key istiod knows whose form is wrong (`request.headers` without `[name]`). */
  | { kind: "malformed"; cause: string }
  | { kind: "untranslatable"; cause: string }
  | { kind: "unknown" };

/** The `when` keys Istio documents for HTTP and TCP. */
export function whenKey(key: string, policyNamespace: string, td: TrustDomains): WhenKey {
  const field = (spec: FieldSpec): WhenKey => ({ kind: "field", spec });
  switch (key) {
    case "source.ip":
      return field(sourceIp);
    case "remote.ip":
      return field(remoteIp);
    case "source.namespace":
      return field(namespaces);
    case "source.principal":
      return field(principals(td));
    case "source.serviceAccount":
      return field(serviceAccounts(policyNamespace));
    case "source.trustDomain":
      return field(trustDomains(td, true));
    case "request.auth.principal":
      return field(requestPrincipals);
    case "request.auth.audiences":
      return field(claim(["aud"]));
    case "request.auth.presenter":
      return field(claim(["azp"]));
    case "destination.ip":
      return field(destinationIp);
    case "destination.port":
      return field(ports);
    case "connection.sni":
      return field(sni);
  }
  if (key.startsWith("experimental.envoy.filters.")) {
    return { kind: "untranslatable", cause: "needs Envoy metadata that Waymark does not produce" };
  }
  if (key.startsWith("request.headers")) {
    const name = bracketed(key.slice("request.headers".length));
    if (name === undefined)
      return { kind: "malformed", cause: "should have the form request.headers[<name>]" };
    if (BAD_HEADER_NAME.test(name)) return { kind: "malformed", cause: "not a valid header name" };
    return field(requestHeader(name));
  }
  if (key.startsWith("request.auth.claims")) {
    const path = claimPath(key.slice("request.auth.claims".length));
    if (path === undefined)
      return { kind: "malformed", cause: "should have the form request.auth.claims[<name>]" };
    return field(claim(path));
  }
  return { kind: "unknown" };
}
