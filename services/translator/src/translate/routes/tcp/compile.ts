// TCPRoute and TLSRoute ("stream routes": a connection is routed whole, no request in sight) → the
// weighted backends of their one rule, and for a TLSRoute the SNI hostnames it matches.
//
// Both kinds have exactly one rule in v1 (the API server enforces it; v1alpha2 allowed several, which
// mean nothing without matches): a second rule is reported and the route is not programmed. A backend
// that cannot be resolved keeps its weight as a share of connections that are refused (the spec's
// "connection rejections must respect weight"); all of them unusable: every connection is refused.

import { isIP } from "node:net";
import type { KubeObject } from "@waymark/api";
import { arr, compareStrings, int, isRecord, str } from "../../input/guards.ts";
import type { ObjectIndex } from "../../input/objects.ts";
import { type BackendTarget, resolveBackend } from "../backends.ts";
import { parentServiceKeys, type RefProblem } from "../compile.ts";
import { parseTimestamp } from "../precedence.ts";

export type StreamKind = "TCPRoute" | "TLSRoute";

export interface WeightedTarget {
  target: BackendTarget;
  weight: number;
}

export interface StreamRoute {
  route: KubeObject;
  kind: StreamKind;
  namespace: string;
  name: string;
  generation: number | undefined;
  /** creationTimestamp in ms (undefined: sorts as the newest). */
  created: number | undefined;
  /** TLSRoute: the SNI hostnames, lower-cased, each once, in spec order. Empty for a TCPRoute. */
  hostnames: string[];
  /** The usable backends (weight > 0), each cluster once. */
  backends: WeightedTarget[];
  /** The weight of the backends that cannot be used: that share of connections is refused. */
  refusedWeight: number;
  /** What makes the route unusable (Accepted=False, UnsupportedValue; nothing programmed). */
  unsupported: string[];
  /** Backends that cannot be resolved (ResolvedRefs=False). */
  refProblems: RefProblem[];
  /** Service key → the ports the route applies to (filled from its accepted parents). */
  servicePorts: Map<string, ReadonlySet<number> | undefined>;
}

/** The CRD's bound on a backendRef's weight. */
const MAX_WEIGHT = 1_000_000;

const RFC1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_HOSTNAME = 253;

/** Why a TLSRoute hostname is not one (the CRD's rules: RFC 1123, a leading `*.` label, no IP). */
export function hostnameProblem(h: string): string | undefined {
  if (h.length === 0 || h.length > MAX_HOSTNAME) return "must have 1 to 253 characters";
  if (isIP(h) !== 0) return "is an IP address; SNI carries host names only (RFC 6066)";
  const rest = h.startsWith("*.") ? h.slice(2) : h;
  if (rest.includes("*")) return "may only have a wildcard as its whole first label (*.example.com)";
  if (!RFC1123.test(rest)) return "is not a lower-case RFC 1123 host name";
  return undefined;
}

function readHostnames(spec: Record<string, unknown>, out: StreamRoute): void {
  const list = arr(spec.hostnames);
  if (list.length === 0) {
    out.unsupported.push(
      "spec.hostnames is empty: a TLSRoute on a waypoint routes TLS passed through by its SNI, so it needs at least one host name (e.g. spec.hostnames: [db.example.com], or *.example.com); the route is not programmed",
    );
    return;
  }
  const problems: string[] = [];
  list.forEach((h, i) => {
    const name = typeof h === "string" ? h : undefined;
    const why = name === undefined ? "is not a string" : hostnameProblem(name);
    if (why) problems.push(`spec.hostnames[${i}] ${JSON.stringify(h)} ${why}`);
    else if (!out.hostnames.includes(name!)) out.hostnames.push(name!);
  });
  if (problems.length) out.unsupported.push(`${problems.join("; ")}; the route is not programmed`);
}

export function compileStreamRoute(route: KubeObject, kind: StreamKind, index: ObjectIndex): StreamRoute {
  const namespace = route.metadata.namespace ?? "";
  const out: StreamRoute = {
    route,
    kind,
    namespace,
    name: route.metadata.name,
    generation: int(route.metadata.generation),
    created: parseTimestamp(route.metadata.creationTimestamp),
    hostnames: [],
    backends: [],
    refusedWeight: 0,
    unsupported: [],
    refProblems: [],
    servicePorts: new Map(),
  };
  const spec = isRecord(route.spec) ? route.spec : {};
  if (kind === "TLSRoute") readHostnames(spec, out);
  const rules = arr(spec.rules);
  if (rules.length === 0) {
    out.unsupported.push(
      "spec.rules is empty: the route needs one rule with backendRefs; it is not programmed",
    );
    return out;
  }
  if (rules.length > 1)
    out.unsupported.push(
      `spec.rules has ${rules.length} rules: a ${kind} has one (it has no matches to choose between them); merge their backendRefs into rules[0]; the route is not programmed`,
    );
  const rule = rules[0];
  if (!isRecord(rule)) {
    out.unsupported.push("spec.rules[0] is not an object; the route is not programmed");
    return out;
  }
  const label = str(rule.name) ? `rules[0] (${str(rule.name)})` : "rules[0]";
  const parents = parentServiceKeys(spec, namespace);
  const refs = arr(rule.backendRefs);
  if (refs.length === 0)
    out.refProblems.push({
      reason: "BackendNotFound",
      message: `${label} has no backendRefs: every connection is refused; add a backendRef (a Service and its port)`,
    });
  refs.forEach((ref, i) => {
    const declared = isRecord(ref) && ref.weight !== undefined ? int(ref.weight) : 1;
    if (declared === undefined || declared < 0 || declared > MAX_WEIGHT) {
      out.unsupported.push(
        `${label}.backendRefs[${i}].weight ${JSON.stringify(isRecord(ref) ? ref.weight : undefined)} is not an integer from 0 to ${MAX_WEIGHT}`,
      );
      return;
    }
    const weight = declared;
    if (isRecord(ref) && arr(ref.filters).length > 0)
      out.unsupported.push(`${label}.backendRefs[${i}].filters: a ${kind} backend has no filters`);
    const result = resolveBackend(ref, namespace, index, parents, kind);
    if (!result.ok) {
      out.refProblems.push({
        reason: result.reason,
        message: `${label}.backendRefs[${i}]: ${result.message}; ${weight > 0 ? "its share of connections is refused" : "it has weight 0"}${result.reason === "BackendNotFound" ? " (correct the backendRef or create the Service)" : ""}`,
      });
      out.refusedWeight += weight;
      return;
    }
    if (weight === 0) return;
    const same = out.backends.find((b) => b.target.cluster === result.target.cluster);
    if (same) same.weight += weight;
    else out.backends.push({ target: result.target, weight });
  });
  return out;
}

/** Negative when a is the older route (creationTimestamp, then namespace/name): the older one wins a conflict. */
export function olderFirst(a: StreamRoute, b: StreamRoute): number {
  const ta = a.created ?? Number.POSITIVE_INFINITY;
  const tb = b.created ?? Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
}
