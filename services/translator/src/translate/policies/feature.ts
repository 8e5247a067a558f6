// The contract of one policy feature: one TrafficPolicy spec field (transformation, and the ones to
// come) or one sub-field (rateLimit.local, rateLimit.global), in its own folder, registered by one
// entry in features.ts. A feature
//   - reads its field of the spec into a value (its IR), every error naming the JSON path it is about,
//     with what it references (a Secret, a GatewayExtension) looked up through the FeatureContext;
//   - says whether two values are equal, so the incremental path asks it whether a policy changed;
//   - names the HTTP filters it needs, each in a slot of the one ordered list (ir/filter-order.ts),
//     statically or from the values in force on a waypoint (filtersFor), and any clusters they call;
//   - gives the per-route and per-virtual-host config (typed_per_filter_config) where it is in force,
//     and/or edits the route entries themselves (timeouts, retries, rewrites: editRoute);
//   - may add to the policy's status: parts it accepts but does not program (PartiallyValid).
// Which policy is in force where (targets, priority, section names, overrides) is not a feature's
// business: policies/translation.ts decides it once for all of them.

import type { Secret } from "@waymark/api";
import type { ClusterJson, RouteJson, SecretJson } from "@waymark/envoy-proto";
import type { PerFilterConfig, PlacedHttpFilter } from "../ir/types.ts";
import type { BackendTarget } from "../routes/backends.ts";
import type { TranslatorSettings } from "../types.ts";
import type { ExtensionKind } from "./extensions/kind.ts";

/** A route entry's metadata.filter_metadata (namespace → struct). */
export type RouteFilterMetadata = NonNullable<NonNullable<RouteJson["metadata"]>["filterMetadata"]>;

/** A problem in a policy's spec, at a JSON path below spec (e.g. `transformation.request.set[0]`). */
export interface FieldError {
  path: string;
  /** What the path holds, when it helps to read the message (a header name, a metadata key). */
  subject?: string;
  message: string;
}

/** How an error reads in the policy's status. */
export function formatFieldError(e: FieldError): string {
  return `${e.path}${e.subject === undefined ? "" : ` (${e.subject})`}: ${e.message}`;
}

/** Collects a reader's errors; `at` takes the path the error is about. */
export class FieldErrors {
  readonly list: FieldError[] = [];
  at(path: string, message: string, subject?: string): void {
    this.list.push(subject === undefined ? { path, message } : { path, subject, message });
  }
  get length(): number {
    return this.list.length;
  }
}

/** What a feature's reader may look at besides its field. */
export interface FeatureContext {
  settings: TranslatorSettings;
  /** The policy's namespace: references resolve in it, and only in it. */
  namespace: string;
  /** The kinds the policy targets (targetRefs and targetSelectors), e.g. some features are route-only. */
  targetKinds: ReadonlySet<string>;
  /** The whole spec, for rules across fields (retry.perTryTimeout must be shorter than timeouts.request). */
  spec: Readonly<Record<string, unknown>>;
  /**
   * A Secret of the policy's namespace (undefined: not there, or not given to the translator). Never
   * put a value of it into an error message: errors end up in status.
   */
  secret(name: string): Secret | undefined;
  /** The Secrets of the policy's namespace whose labels include `matchLabels`, sorted by name. */
  secretsSelected(matchLabels: Record<string, string>): Secret[];
  /**
   * A reference (`ref`, at `path` in the policy, e.g. `jwtAuth.extensionRef`) to a GatewayExtension of
   * `kind` in the policy's namespace, read by its type (extensions/registry.ts): its value, or errors
   * saying what to fix (not found, another type, invalid: the same words as the extension's status).
   */
  extension<E>(kind: ExtensionKind<E>, ref: unknown, path: string): FeatureRead<{ name: string; value: E }>;
  /** Every usable GatewayExtension of `kind` in the policy's namespace (`<namespace>/<name>`, sorted). */
  extensionsOfKind?<E>(kind: ExtensionKind<E>): Array<{ name: string; value: E }>;
  /**
   * A backendRef (a port of a Service of the policy's namespace: a JWKS server, an auth server) as a
   * backend the waypoint can send to, or why it cannot (the message names the Service and port).
   */
  backend(ref: unknown): { ok: true; target: BackendTarget } | { ok: false; message: string };
}

/** Where a route entry sits, for features that render names from it (statPrefix). */
export interface RouteSite {
  routeNamespace: string;
  routeName: string;
  /** The rule's name; undefined when the rule is unnamed. */
  ruleName: string | undefined;
  ruleIndex: number;
}

export type FeatureRead<V> = { ok: true; value: V } | { ok: false; errors: FieldError[] };

export interface PolicyFeature<V> {
  /**
   * The TrafficPolicy spec field this feature implements (also the path its errors start with), or a
   * sub-field of one ("rateLimit.global") when the field's parts are features of their own: each is
   * read, merged across policies and compared on its own; keys of the field that no feature names
   * are unknown, and the field must set one of them.
   */
  field: string;
  /** Reads and validates the value at field (spec.rateLimit.global); any error makes the policy Invalid. */
  read(value: unknown, ctx: FeatureContext): FeatureRead<V>;
  /** Whether two values program the same thing (the incremental path asks this). */
  equal(a: V, b: V): boolean;
  /**
   * HTTP filters for every connection manager of a waypoint where the feature is in force. Only those
   * some route entry or virtual host names in its per-filter config are emitted; put them disabled
   * when they must act only where enabled per route (FilterConfig, or the filter's own per-route).
   */
  httpFilters?: readonly PlacedHttpFilter[];
  /**
   * Instead of httpFilters: the filters from the values in force anywhere on one waypoint (in policy
   * priority order, each once), e.g. jwt_authn with every provider they use. Same emission rule.
   */
  filtersFor?(values: readonly V[]): readonly PlacedHttpFilter[];
  /** Clusters the filters call (a JWKS server), from the values in force on one waypoint; by name, once. */
  clustersFor?(values: readonly V[]): readonly ClusterJson[];
  /**
   * Services the filters call, from the values in force on one waypoint: EDS clusters with endpoints
   * from their EndpointSlices, as a route's backends get (the same cluster when a route uses it too).
   */
  backendsFor?(values: readonly V[]): readonly BackendTarget[];
  /**
   * SDS secrets the filters read (OAuth2's client and HMAC secrets), from the values in force on one
   * waypoint: served in the waypoint's snapshot (SECRET_TYPE_URL), by name, once.
   */
  secretsFor?(values: readonly V[]): readonly SecretJson[];
  /**
   * A security feature (authentication, access control): when it cannot be read, the policy is Invalid
   * and every route entry it targets answers 500 instead of going unprotected (fails closed).
   */
  failClosed?: boolean;
  // Network filters (a connection-level feature, e.g. network RBAC) go into ChainIR.networkFilters,
  // in a slot of NETWORK_FILTER_SLOTS; no TrafficPolicy feature has one yet.
  /** typed_per_filter_config of a route entry where `value` is in force ({} when it does nothing). */
  perRoute?(value: V): PerFilterConfig;
  /** metadata.filter_metadata of a route entry where `value` is in force, for filters that read it. */
  routeMetadata?(value: V): RouteFilterMetadata;
  /**
   * Edits a route entry where `value` is in force (route action fields: timeouts, retry policy,
   * rewrites; the route's stat_prefix, tracing). Given a copy it may change in place. Gateway-level
   * values are applied to every entry of the waypoint's virtual hosts that no route-level or
   * rule-level policy sets this feature on.
   */
  editRoute?(value: V, route: RouteJson, site: RouteSite | undefined): void;
  /** typed_per_filter_config of a virtual host (Gateway-level policies); perRoute when absent. */
  perVirtualHost?(value: V): PerFilterConfig;
  /** Paths under spec[field] that are accepted but not programmed (status: PartiallyValid). */
  ignored?(value: V): string[];
}
