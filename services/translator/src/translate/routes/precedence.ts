// Gateway API route-match precedence. Every (route, rule, match) becomes one Envoy route entry, and
// Envoy takes the first entry that matches, so entries are sorted most specific first:
//   1. path type: Exact, then PathPrefix, then RegularExpression;
//   2. longer path value first (the longest prefix wins);
//   3. a method match before none;
//   4. more header matches first;
//   5. more query-parameter matches first;
// then ties by the oldest route (creationTimestamp), the route's namespace/name alphabetically, and
// finally rule order and match order within the route. A match that becomes two entries (a share of
// the requests answered 500, the rest forwarded) keeps them together, the share first.
import { compareStrings } from "../input/guards.ts";

export type PathMatchType = "Exact" | "PathPrefix" | "RegularExpression";

export interface MatchRank {
  pathType: PathMatchType;
  pathLength: number;
  hasMethod: boolean;
  headerCount: number;
  queryCount: number;
  /** The route's creationTimestamp in ms since the epoch; undefined sorts as the newest. */
  created: number | undefined;
  namespace: string;
  name: string;
  ruleIndex: number;
  matchIndex: number;
  /** Entry of the match: 0 for the 500 share of unusable backends (if any), 1 for the forward. */
  part?: number;
  /** A GRPCRoute match: its own order (see compareMatchRank); path fields are unused. */
  grpc?: { service: number; method: number };
}

const PATH_TYPE_ORDER: Record<PathMatchType, number> = { Exact: 0, PathPrefix: 1, RegularExpression: 2 };

/** Negative when a takes precedence over b. A total order: equal only for the same match. */
export function compareMatchRank(a: MatchRank, b: MatchRank): number {
  // GRPCRoute (its spec): more characters of the matched service first, then of the method, then
  // more header matches; the same tie-breaks after that. GRPCRoutes and HTTPRoutes never share a
  // route configuration (ir/waypoint.ts), so the two orders never meet.
  if (a.grpc && b.grpc)
    return (
      b.grpc.service - a.grpc.service ||
      b.grpc.method - a.grpc.method ||
      b.headerCount - a.headerCount ||
      tieBreak(a, b)
    );
  return (
    PATH_TYPE_ORDER[a.pathType] - PATH_TYPE_ORDER[b.pathType] ||
    b.pathLength - a.pathLength ||
    Number(b.hasMethod) - Number(a.hasMethod) ||
    b.headerCount - a.headerCount ||
    b.queryCount - a.queryCount ||
    tieBreak(a, b)
  );
}

/** Oldest route first, then namespace/name, rule order, match order, entry part. */
function tieBreak(a: MatchRank, b: MatchRank): number {
  return (
    (a.created ?? Number.POSITIVE_INFINITY) - (b.created ?? Number.POSITIVE_INFINITY) ||
    compareStrings(a.namespace, b.namespace) ||
    compareStrings(a.name, b.name) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex ||
    (a.part ?? 0) - (b.part ?? 0)
  );
}

/** Parses a creationTimestamp (RFC 3339); undefined when absent or unparsable. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
