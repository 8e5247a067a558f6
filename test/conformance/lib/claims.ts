// What Waymark claims of the mesh conformance suite, in the suite's own model (conformance/utils/suite,
// pkg/features): an implementation declares the features it supports, and a test runs when every
// feature it lists is declared. Here:
//   - DECLARED_FEATURES: the features Waymark declares (the suite's names, pkg/features);
//   - CLAIMED: the tests Waymark claims, written out so a change of claims is a reviewed line. The
//     harness checks that it is exactly the tests whose features are all declared, less EXCLUDED;
//   - EXCLUDED: tests whose features are declared but which are not claimed, each with its reason.
// A claimed test must pass every check of the suite (lib/compare.ts) or the run fails. A test not
// claimed does not run: it is reported as skipped with its reason, never as passed.
//
// Features that land on other branches are named in PENDING_FEATURES with the reason their tests
// are skipped meanwhile. To claim one before its branch merges, name it in
// WAYMARK_CONFORMANCE_FEATURES (comma-separated, e.g. `WAYMARK_CONFORMANCE_FEATURES=GRPCRoute`): its
// tests are then claimed and must pass. At merge, move it into DECLARED_FEATURES and its tests into
// CLAIMED (GRPCRoute was the first: "GRPCRoute" and "MeshGRPCRouteWeight").
import type { SuiteTest } from "./suite.ts";

export const DECLARED_FEATURES: readonly string[] = [
  // Core
  "Mesh",
  "HTTPRoute",
  "GRPCRoute",
  // Extended (mesh)
  "MeshClusterIPMatching",
  "MeshConsumerRoute",
  "MeshHTTPRouteBackendRequestHeaderModification",
  "MeshHTTPRouteNamedRouteRule",
  "MeshHTTPRouteQueryParamMatching",
  "MeshHTTPRouteRedirectPath",
  "MeshHTTPRouteRedirectPort",
  "MeshHTTPRouteRewritePath",
  "MeshHTTPRouteSchemeRedirect",
  // Extended (HTTPRoute) used by mesh tests
  "HTTPRouteResponseHeaderModification",
  "HTTPRouteParentRefPort",
  "HTTPRoute303RedirectStatusCode",
  "HTTPRoute307RedirectStatusCode",
  "HTTPRoute308RedirectStatusCode",
];

export const CLAIMED: readonly string[] = [
  "MeshBasic",
  "MeshConsumerRoute",
  "MeshFrontend",
  "MeshFrontendHostname",
  "MeshPorts",
  "MeshTrafficSplit",
  "MeshHTTPRoute303Redirect",
  "MeshHTTPRoute307Redirect",
  "MeshHTTPRoute308Redirect",
  "MeshHTTPRouteBackendRequestHeaderModifier",
  "MeshHTTPRouteMatching",
  "MeshHTTPRouteQueryParamMatching",
  "MeshHTTPRouteRedirectHostAndStatus",
  "MeshHTTPRouteRedirectPath",
  "MeshHTTPRouteRedirectPort",
  "MeshHTTPRouteRequestHeaderModifier",
  "MeshHTTPRouteRewritePath",
  "MeshHTTPRouteSchemeRedirect",
  "MeshHTTPRouteSimpleSameNamespace",
  "MeshHTTPRouteWeight",
  "MeshGRPCRouteWeight",
];

export const EXCLUDED: Readonly<Record<string, string>> = {
  MeshHTTPRouteNamedRule:
    "suite bug: its case '1 request to /unnamed' expects the backend to see path /named, which no " +
    "implementation can produce (the rule has no rewrite); upstream's mesh client never compares paths, " +
    "so it passes there. Waymark passes every other check of the test (status, backend, namespace, host, " +
    "method, and the path of the /named case)",
};

export const PENDING_FEATURES: Readonly<Record<string, string>> = {};

/** The features declared for this run: DECLARED_FEATURES and those named in WAYMARK_CONFORMANCE_FEATURES. */
export function declaredFeatures(env: Record<string, string | undefined> = process.env): Set<string> {
  const extra = (env["WAYMARK_CONFORMANCE_FEATURES"] ?? "")
    .split(",")
    .map((f) => f.trim())
    .filter(Boolean);
  return new Set([...DECLARED_FEATURES, ...extra]);
}

export type Claim = { claimed: true } | { claimed: false; reason: string };

export function claim(t: SuiteTest, declared: Set<string>): Claim {
  const missing = t.features.filter((f) => !declared.has(f));
  if (missing.length) {
    const reasons = missing.map(
      (f) => PENDING_FEATURES[f] ?? `needs feature ${f}, which Waymark does not declare`,
    );
    return { claimed: false, reason: [...new Set(reasons)].join("; ") };
  }
  const excluded = EXCLUDED[t.name];
  if (excluded) return { claimed: false, reason: excluded };
  return { claimed: true };
}

/**
 * Problems with the lists: a CLAIMED test that the features do not allow, or a test the features
 * allow that is neither CLAIMED nor EXCLUDED (unless a WAYMARK_CONFORMANCE_FEATURES feature allowed it).
 */
export function claimProblems(tests: SuiteTest[], declared: Set<string>): string[] {
  const base = new Set(DECLARED_FEATURES);
  const problems: string[] = [];
  const names = new Set(tests.map((t) => t.name));
  for (const n of CLAIMED) if (!names.has(n)) problems.push(`${n} is claimed but not in the suite`);
  for (const n of Object.keys(EXCLUDED))
    if (!names.has(n)) problems.push(`${n} is excluded but not in the suite`);
  for (const t of tests) {
    const c = claim(t, declared);
    const listed = CLAIMED.includes(t.name);
    if (listed && !c.claimed) problems.push(`${t.name} is in CLAIMED but ${c.reason}`);
    const byBase = t.features.every((f) => base.has(f));
    if (c.claimed && !listed && byBase)
      problems.push(`${t.name}: its features are declared, add it to CLAIMED or EXCLUDED`);
  }
  return problems;
}
