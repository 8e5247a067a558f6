// HTTPRoute → Envoy route entries. Each route is compiled once (matches, filters, backends) into
// entries carrying their precedence rank; the virtual hosts of each service then take the entries of
// the routes that apply to it and sort them (see precedence.ts).
import type { HTTPRoute } from "@waymark/api";
import type { JsonObject } from "@waymark/envoy-proto";
import { type BackendReason, type BackendTarget, resolveBackend } from "./backends.ts";
import { compileFilters } from "./filters.ts";
import { arr, int, isRecord, str } from "./guards.ts";
import { compileMatch } from "./matches.ts";
import { routeEntryName } from "./names.ts";
import type { ObjectIndex } from "./objects.ts";
import { type MatchRank, parseTimestamp } from "./precedence.ts";

export interface RouteEntry {
  rank: MatchRank;
  /** A complete Envoy Route. */
  json: JsonObject;
}

export interface RefProblem {
  reason: BackendReason;
  message: string;
}

export interface CompiledRoute {
  route: HTTPRoute;
  namespace: string;
  name: string;
  generation: number | undefined;
  /** One per valid (rule, match), unsorted. */
  entries: RouteEntry[];
  /** The backends the entries send to (each needs a cluster). */
  targets: BackendTarget[];
  /** What the route asks for that Waymark cannot do (Accepted=False, UnsupportedValue). */
  unsupported: string[];
  /** Backends that cannot be resolved (ResolvedRefs=False), in rule order. */
  refProblems: RefProblem[];
}

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API duration ("1h30m", "500ms") as a proto3 JSON Duration ("5400s", "0.500s"). */
export function gatewayDurationToProto(value: string): string | undefined {
  if (!DURATION.test(value)) return undefined;
  let ms = 0;
  for (const m of value.matchAll(/([0-9]+)(h|ms|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  const s = Math.floor(ms / 1000);
  const frac = ms % 1000;
  return frac ? `${s}.${String(frac).padStart(3, "0")}s` : `${s}s`;
}

const internalError = (): JsonObject => ({ directResponse: { status: 500 } });

interface RuleAction {
  action: JsonObject;
  headerOps: JsonObject;
  targets: BackendTarget[];
}

function compileRule(
  rule: Record<string, unknown>,
  label: string,
  namespace: string,
  index: ObjectIndex,
  out: CompiledRoute,
): RuleAction {
  const filters = compileFilters(rule.filters);
  let broken = false;
  for (const p of filters.problems) {
    out.unsupported.push(`${label}: ${p}; requests matching this rule get HTTP 500`);
    broken = true;
  }

  const targets: BackendTarget[] = [];
  const weights = new Map<string, number>();
  const refs = arr(rule.backendRefs);
  for (const ref of refs) {
    const result = resolveBackend(ref, namespace, index);
    if (!result.ok) {
      out.refProblems.push({ reason: result.reason, message: `${label}: ${result.message}` });
      broken = true;
      continue;
    }
    if (isRecord(ref) && arr(ref.filters).length > 0) {
      out.unsupported.push(
        `${label}: filters on backendRefs are not supported yet; requests matching this rule get HTTP 500`,
      );
      broken = true;
    }
    if (result.weight === 0) continue;
    if (!weights.has(result.target.cluster)) targets.push(result.target);
    weights.set(result.target.cluster, (weights.get(result.target.cluster) ?? 0) + result.weight);
  }

  const timeouts = isRecord(rule.timeouts) ? rule.timeouts : {};
  let timeout: string | undefined;
  if (timeouts.request !== undefined) {
    timeout = gatewayDurationToProto(str(timeouts.request) ?? "");
    if (timeout === undefined) {
      out.unsupported.push(
        `${label}: timeouts.request ${JSON.stringify(timeouts.request)} is not a valid duration; it is ignored`,
      );
    }
  }
  if (timeouts.backendRequest !== undefined) {
    out.unsupported.push(`${label}: timeouts.backendRequest is not supported yet; it is ignored`);
  }

  // No backends, an unresolvable backend, all weights zero, or a filter we cannot apply: answer 500
  // (the Gateway API's required response), never forward without what the user asked for.
  if (broken || targets.length === 0)
    return { action: internalError(), headerOps: filters.headerOps, targets: [] };
  const first = targets[0];
  const routeAction: JsonObject =
    targets.length === 1 && first
      ? { cluster: first.cluster }
      : {
          weightedClusters: {
            clusters: targets.map((t) => ({ name: t.cluster, weight: weights.get(t.cluster) ?? 0 })),
          },
        };
  if (timeout !== undefined) routeAction.timeout = timeout;
  return { action: { route: routeAction }, headerOps: filters.headerOps, targets };
}

export function compileRoute(route: HTTPRoute, index: ObjectIndex): CompiledRoute {
  const namespace = route.metadata.namespace ?? "";
  const name = route.metadata.name;
  const out: CompiledRoute = {
    route,
    namespace,
    name,
    generation: int(route.metadata.generation),
    entries: [],
    targets: [],
    unsupported: [],
    refProblems: [],
  };
  const created = parseTimestamp(route.metadata.creationTimestamp);
  const spec = isRecord(route.spec) ? route.spec : {};
  // Indexes are those of spec.rules (a malformed rule is skipped but keeps its place in messages).
  arr(spec.rules).forEach((rule, ruleIndex) => {
    if (!isRecord(rule)) {
      out.unsupported.push(`rules[${ruleIndex}] is not an object; it is ignored`);
      return;
    }
    const ruleName = str(rule.name);
    const label = ruleName ? `rules[${ruleIndex}] (${ruleName})` : `rules[${ruleIndex}]`;
    const { action, headerOps, targets } = compileRule(rule, label, namespace, index, out);
    for (const t of targets) if (!out.targets.some((x) => x.cluster === t.cluster)) out.targets.push(t);
    const matches = arr(rule.matches);
    (matches.length ? matches : [undefined]).forEach((m, matchIndex) => {
      const compiled = compileMatch(m);
      if (!compiled.ok) {
        out.unsupported.push(
          `${label}.matches[${matchIndex}]: ${compiled.message}; this match is not programmed`,
        );
        return;
      }
      const c = compiled.value;
      out.entries.push({
        rank: {
          pathType: c.pathType,
          pathLength: c.pathLength,
          hasMethod: c.hasMethod,
          headerCount: c.headerCount,
          queryCount: c.queryCount,
          created,
          namespace,
          name,
          ruleIndex,
          matchIndex,
        },
        json: {
          name: routeEntryName(namespace, name, ruleIndex, matchIndex),
          match: c.match,
          ...action,
          ...headerOps,
        },
      });
    });
  });
  return out;
}
