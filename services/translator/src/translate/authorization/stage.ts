// Stage 5b: Istio authorization on the waypoints (design note §1, §2, §7, §8). bindAuthorization()
// reads the AuthorizationPolicies and RequestAuthentications once; waypoint() places, on each chain of
// a waypoint's IR, the filters of the policies bound to that chain (jwt_authn in the `authentication`
// slot and the HTTP RBAC filters in `authorization` on HTTP chains; the network RBAC filters in
// `authorization` on TCP chains) and the JWKS clusters once per waypoint; statuses() gives each
// policy's status last.
import { refOf } from "@waymark/api";
import type { ClusterJson, FilterJson, HttpFilterJson } from "@waymark/envoy-proto";
import { compareStrings } from "../input/guards.ts";
import { type ObjectIndex, serviceKey } from "../input/objects.ts";
import type { WaypointIR } from "../ir/types.ts";
import type { BackendTarget } from "../routes/backends.ts";
import { DEFAULT_TRUST_DOMAIN, type ObjectStatus, type TranslatorSettings } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import type { Waypoints } from "../waypoints/stage.ts";
import { bindsChain, type IstioPolicy, readIstioPolicies } from "./binding.ts";
import type { AuthzProblem, BoundPolicy, RbacBuild, TrustDomains } from "./contract.ts";
import { customFilters, splitCustom } from "./custom.ts";
import { denyAllHttp, denyAllNetwork } from "./fail-closed.ts";
import { jwtAuthnFilter } from "./jwt.ts";
import { type MeshProviders, meshProviders } from "./mesh-config.ts";
import { HTTP_RBAC_FILTER_NAMES, httpRbacFilters, networkRbacFilters } from "./rbac.ts";
import { policyStatus } from "./status.ts";

export { FAIL_CLOSED_HTTP_FILTER, FAIL_CLOSED_NETWORK_FILTER } from "./fail-closed.ts";

interface ChainBuild {
  http: HttpFilterJson[];
  network: FilterJson[];
  authn?: HttpFilterJson;
  outputHeaders?: string[];
  clusters: ClusterJson[];
  /** The CUSTOM provider's Service, an EDS cluster of the waypoint. */
  backend?: BackendTarget;
}

export class AuthorizationTranslation {
  private readonly policies: IstioPolicy[];
  private readonly td: TrustDomains;
  private readonly index: ObjectIndex;
  private readonly mesh: MeshProviders;
  /** Policy key → problems (deduplicated by their text). */
  private readonly problems = new Map<string, Map<string, AuthzProblem>>();
  /** Policy key → number of chains it was placed on. */
  private readonly chains = new Map<string, number>();
  /** The same bound set on the same protocol builds the same filters: built once per translation. */
  private readonly builds = new Map<string, ChainBuild>();

  constructor(index: ObjectIndex, settings: TranslatorSettings, waypoints: Waypoints) {
    this.policies = readIstioPolicies(index, waypoints, settings);
    this.index = index;
    this.mesh = meshProviders(index, settings);
    this.td = {
      trustDomain: settings.trustDomain ?? DEFAULT_TRUST_DOMAIN,
      aliases: settings.trustDomainAliases ?? [],
    };
  }

  /** Whether any policy binds anything (else waypoint() has nothing to do). */
  any(): boolean {
    return this.policies.some((p) => p.results.some((r) => r.bound));
  }

  private record(problems: readonly AuthzProblem[]): void {
    for (const p of problems) {
      let m = this.problems.get(p.policy);
      if (!m) {
        m = new Map();
        this.problems.set(p.policy, m);
      }
      const key = JSON.stringify([p.rule, p.field, p.cause, p.effect]);
      if (!m.has(key)) m.set(key, p);
    }
  }

  private build(kind: "http" | "tcp", authz: IstioPolicy[], authn: IstioPolicy[]): ChainBuild {
    const key = JSON.stringify([kind, authz.map(keyOf), authn.map(keyOf)]);
    const cached = this.builds.get(key);
    if (cached) return cached;
    const split = splitCustom(
      authz.map((p) => p.bound),
      kind,
      this.mesh,
      this.index,
    );
    const bound = split.rest;
    const out: ChainBuild = { http: [], network: [], clusters: [] };
    if (kind === "http") {
      if (bound.length) {
        const r = buildGuarded(bound, (ps) => httpRbacFilters(ps, this.td), "http");
        out.http = r.filters;
        this.record(r.problems);
      }
      if (split.called.length) {
        // CUSTOM before DENY and ALLOW (after AUDIT, which never decides), as Istio orders them.
        const r = buildGuarded(split.called, () => customFilters(split, this.td), "http");
        const at = out.http[0]?.name === HTTP_RBAC_FILTER_NAMES.LOG ? 1 : 0;
        out.http.splice(at, 0, ...r.filters);
        this.record(r.problems);
        if (split.provider && r.filters.length) out.backend = split.provider.backend;
      }
      if (authn.length) {
        const raBound = authn.map((p) => p.bound);
        const r = guarded(raBound, jwtAuthnFilter, undefined, { clusters: [], problems: [] });
        if (r.filter) out.authn = r.filter;
        if (r.outputHeaders) out.outputHeaders = r.outputHeaders;
        out.clusters = r.clusters;
        this.record(r.problems);
      }
    } else if (bound.length) {
      const r = buildGuarded(bound, (ps) => networkRbacFilters(ps, this.td), "tcp");
      out.network = r.filters;
      this.record(r.problems);
    }
    this.builds.set(key, out);
    return out;
  }

  /** Fills the authorization slots of the waypoint's chains, and adds its JWKS clusters. */
  waypoint(w: WaypointInfo, ir: WaypointIR): void {
    if (!ir.listener || !this.any()) return;
    const clusters = new Map<string, ClusterJson>();
    for (const chain of ir.listener.chains) {
      const key = serviceKey(chain.service);
      const bound = this.policies.filter((p) => !p.malformed && bindsChain(p, w.key, key));
      if (!bound.length) continue;
      const authz = bound.filter((p) => p.kind === "AuthorizationPolicy");
      const authn = chain.kind === "http" ? bound.filter((p) => p.kind === "RequestAuthentication") : [];
      for (const p of [...authz, ...authn]) this.chains.set(keyOf(p), (this.chains.get(keyOf(p)) ?? 0) + 1);
      const b = this.build(chain.kind, authz, authn);
      if (b.authn) chain.httpFilters.push({ slot: "authentication", filter: b.authn });
      if (b.outputHeaders) chain.earlyRemovedHeaders = b.outputHeaders;
      for (const f of b.http) chain.httpFilters.push({ slot: "authorization", filter: f });
      for (const f of b.network) chain.networkFilters.push({ slot: "authorization", filter: f });
      for (const c of b.clusters) if (c.name && !clusters.has(c.name)) clusters.set(c.name, c);
      const backend = b.backend;
      if (backend && !ir.clusters.some((c) => c.cluster === backend.cluster)) ir.clusters.push(backend);
    }
    if (clusters.size) {
      const extra = [...(ir.extraClusters ?? [])];
      for (const c of clusters.values()) if (!extra.some((e) => e.name === c.name)) extra.push(c);
      ir.extraClusters = extra.sort((a, b) => compareStrings(a.name ?? "", b.name ?? ""));
    }
  }

  /** The status of every policy of ours (call after waypoint() for every waypoint). */
  statuses(): ObjectStatus[] {
    return this.policies.map((p) => {
      const key = keyOf(p);
      const status = policyStatus(
        p,
        [...(this.problems.get(key)?.values() ?? [])],
        this.chains.get(key) ?? 0,
      );
      const s: ObjectStatus = { ref: refOf(p.object), status };
      if (p.generation !== undefined) s.generation = p.generation;
      return s;
    });
  }
}

/** Reads the Istio policies of one translation (waypoint() then fills each waypoint's chains). */
export function bindAuthorization(
  index: ObjectIndex,
  settings: TranslatorSettings,
  waypoints: Waypoints,
): AuthorizationTranslation {
  return new AuthorizationTranslation(index, settings, waypoints);
}

const keyOf = (p: IstioPolicy | BoundPolicy) => `${p.namespace}/${p.name}`;

/** An RBAC build that never throws (see guarded): a policy the builder throws on denies its chain. */
export function buildGuarded<F>(
  policies: readonly BoundPolicy[],
  build: (ps: readonly BoundPolicy[]) => RbacBuild<F>,
  kind: "http" | "tcp",
): RbacBuild<F> {
  const closed = (r: RbacBuild<F>) =>
    r.filters.push((kind === "http" ? denyAllHttp() : denyAllNetwork()) as F);
  return guarded(policies, build, closed, { filters: [], problems: [] });
}

/**
 * A builder that throws on some policy must not take the other policies down, nor fail open. The
 * policies are then built one by one; those that throw are left out and listed in their status, and
 * `closed` (a deny-all stand-in for RBAC) is added so the chain denies what they might have allowed.
 */
function guarded<T extends { problems: AuthzProblem[] }>(
  policies: readonly BoundPolicy[],
  build: (ps: readonly BoundPolicy[]) => T,
  closed: ((r: T) => void) | undefined,
  empty: T,
): T {
  try {
    return build(policies);
  } catch {
    // Only a builder bug gets here: the builders read their input defensively.
    const good = policies.filter((p) => {
      try {
        build([p]);
        return true;
      } catch {
        return false;
      }
    });
    const bad = policies.filter((p) => !good.includes(p));
    let r: T;
    try {
      r = build(good);
    } catch {
      r = empty;
      bad.push(...good);
    }
    if (closed) closed(r);
    for (const p of bad)
      r.problems.push({
        policy: keyOf(p),
        rule: -1,
        field: "spec",
        cause: "internal error of the translator",
        effect: closed ? "denies" : "policy-ignored",
      });
    return r;
  }
}
