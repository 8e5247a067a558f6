// The route-edit features' readers (errors name their path) and their edits of a route entry: what
// an HTTPRoute rule sets itself wins, Gateway-level values only fill gaps, non-forwarding entries
// keep their action.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RouteJson } from "@waymark/envoy-proto";
import { autoHostRewriteFeature } from "./auto-host-rewrite/index.ts";
import type { FeatureRead, RouteSite } from "./feature.ts";
import { internalRedirectFeature, readInternalRedirect } from "./internal-redirect/index.ts";
import { readRetry, retryFeature } from "./retry/index.ts";
import { readStatPrefix, renderStatPrefix } from "./stat-prefix/index.ts";
import { readTimeouts, timeoutsFeature } from "./timeouts/index.ts";
import { readUrlRewrite, urlRewriteFeature } from "./url-rewrite/index.ts";

const routeOnly = { targetKinds: new Set(["HTTPRoute"]) };
const onGateway = { targetKinds: new Set(["Gateway"]) };
const site: RouteSite = { routeNamespace: "ns", routeName: "r", ruleName: undefined, ruleIndex: 0 };

function ok<V>(r: FeatureRead<V>): V {
  if (!r.ok) assert.fail(`unexpected errors: ${JSON.stringify(r.errors)}`);
  return r.value;
}
function paths<V>(r: FeatureRead<V>): string[] {
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors.map((e) => e.path);
}
const entry = (): RouteJson => ({ name: "e", match: { prefix: "/" }, route: { cluster: "c" } });

test("timeouts: durations in kgateway's syntax; the rule's own request timeout wins", () => {
  const v = ok(readTimeouts({ request: "1m30s", streamIdle: "250ms" }));
  assert.deepEqual(v, { request: "90s", streamIdle: "0.250s" });
  assert.deepEqual(paths(readTimeouts({ request: "1.5s", streamIdle: 3, idle: "1s" })), [
    "timeouts.idle",
    "timeouts.request",
    "timeouts.streamIdle",
  ]);
  const own = entry();
  own.route!.timeout = "5s";
  timeoutsFeature.editRoute!(v, own, site);
  assert.equal(own.route!.timeout, "5s");
  assert.equal(own.route!.idleTimeout, "0.250s");
  // Gateway-level: a default only.
  const gw = entry();
  gw.route!.idleTimeout = "7s";
  timeoutsFeature.editRoute!(v, gw, undefined);
  assert.deepEqual([gw.route!.timeout, gw.route!.idleTimeout], ["90s", "7s"]);
  const redirect: RouteJson = { name: "x", redirect: { pathRedirect: "/y" } };
  timeoutsFeature.editRoute!(v, redirect, site);
  assert.deepEqual(redirect, { name: "x", redirect: { pathRedirect: "/y" } });
});

test("retry: kgateway's mapping to Envoy's retry_policy", () => {
  const v = ok(
    readRetry({
      retryOn: ["reset", "5xx", "reset"],
      statusCodes: [503],
      perTryTimeout: "200ms",
      backoffBaseInterval: "1s",
    }),
  );
  assert.deepEqual(v.policy, {
    retryOn: "5xx,reset,retriable-status-codes",
    numRetries: 1,
    retriableStatusCodes: [503],
    perTryTimeout: "0.200s",
    retryBackOff: { baseInterval: "1s" },
  });
  assert.deepEqual(ok(readRetry({ statusCodes: [500], attempts: 0 })).policy, {
    retryOn: "retriable-status-codes",
    numRetries: 0,
    retriableStatusCodes: [500],
  });
  assert.deepEqual(paths(readRetry({ attempts: 2 })), ["retry"]);
  assert.deepEqual(paths(readRetry({ retryOn: ["5xx", "often"], statusCodes: [399], attempts: 1.5 })), [
    "retry.retryOn[1]",
    "retry.statusCodes[0]",
    "retry.attempts",
  ]);
  assert.deepEqual(
    paths(readRetry({ retryOn: ["5xx"], perTryTimeout: "2s" }, { spec: { timeouts: { request: "2s" } } })),
    ["retry.perTryTimeout"],
  );
  ok(readRetry({ retryOn: ["5xx"], perTryTimeout: "1s" }, { spec: { timeouts: { request: "2s" } } }));
  const r = ok(readRetry({ retryOn: ["5xx"], retryHostPredicates: ["PreviousHosts"] }));
  assert.deepEqual(retryFeature.ignored!(r), ["retry.retryHostPredicates"]);
  // The HTTPRoute rule's own retry policy wins.
  const own = entry();
  own.route!.retryPolicy = { numRetries: 4 };
  retryFeature.editRoute!(v, own, site);
  assert.deepEqual(own.route!.retryPolicy, { numRetries: 4 });
});

test("urlRewrite: RE2 patterns, substitutions naming existing groups, routes only", () => {
  const v = ok(readUrlRewrite({ pathRegex: { pattern: "^/a/(.*)$", substitution: "/b/\\1" } }, routeOnly));
  const e = entry();
  urlRewriteFeature.editRoute!(v, e, site);
  assert.deepEqual(e.route!.regexRewrite, { pattern: { regex: "^/a/(.*)$" }, substitution: "/b/\\1" });
  const own = entry();
  own.route!.prefixRewrite = "/x";
  urlRewriteFeature.editRoute!(v, own, site);
  assert.equal(own.route!.regexRewrite, undefined, "the rule's own URLRewrite wins");
  assert.deepEqual(paths(readUrlRewrite({ pathRegex: { pattern: "(a", substitution: "x" } }, routeOnly)), [
    "urlRewrite.pathRegex.pattern",
  ]);
  for (const substitution of ["/\\2", "/\\q", "/\\"])
    assert.deepEqual(paths(readUrlRewrite({ pathRegex: { pattern: "^/(a)", substitution } }, routeOnly)), [
      "urlRewrite.pathRegex.substitution",
    ]);
  ok(readUrlRewrite({ pathRegex: { pattern: "^/(a)", substitution: "\\\\\\0\\1" } }, routeOnly));
  assert.deepEqual(paths(readUrlRewrite({}, routeOnly)), ["urlRewrite"]);
  assert.deepEqual(paths(readUrlRewrite({ pathRegex: { pattern: "^/", substitution: "/" } }, onGateway)), [
    "urlRewrite",
  ]);
});

test("autoHostRewrite: true sets auto_host_rewrite unless the rule rewrites the host", () => {
  const e = entry();
  autoHostRewriteFeature.editRoute!(true, e, site);
  assert.equal(e.route!.autoHostRewrite, true);
  const own = entry();
  own.route!.hostRewriteLiteral = "h.example";
  autoHostRewriteFeature.editRoute!(true, own, site);
  assert.equal(own.route!.autoHostRewrite, undefined);
  const off = entry();
  autoHostRewriteFeature.editRoute!(false, off, site);
  assert.equal(off.route!.autoHostRewrite, undefined);
  assert.equal(autoHostRewriteFeature.read("true", routeOnly as never).ok, false);
  assert.equal(autoHostRewriteFeature.read(true, onGateway as never).ok, false);
});

test("internalRedirect: codes, headers and a count as Envoy takes them", () => {
  assert.deepEqual(
    ok(
      readInternalRedirect({
        redirectResponseCodes: [303, 301],
        allowCrossSchemeRedirect: false,
        responseHeadersToCopy: ["X-Id"],
        maxRedirects: 2,
      }),
    ),
    { redirectResponseCodes: [303, 301], responseHeadersToCopy: ["X-Id"], maxInternalRedirects: 2 },
  );
  assert.deepEqual(ok(readInternalRedirect({})), {});
  assert.deepEqual(
    paths(
      readInternalRedirect({
        redirectResponseCodes: [304],
        responseHeadersToCopy: ["host"],
        maxRedirects: 0,
      }),
    ),
    [
      "internalRedirect.redirectResponseCodes[0]",
      "internalRedirect.responseHeadersToCopy[0]",
      "internalRedirect.maxRedirects",
    ],
  );
  const e = entry();
  internalRedirectFeature.editRoute!({ maxInternalRedirects: 2 }, e, site);
  assert.deepEqual(e.route!.internalRedirectPolicy, { maxInternalRedirects: 2 });
});

test("statPrefix: tokens filled from the entry, empty segments dropped", () => {
  const t = "{{ route_namespace }}.{{route_name}}.{{rule_name}}";
  assert.equal(renderStatPrefix(t, site), "ns.r");
  assert.equal(renderStatPrefix(t, { ...site, ruleName: "api" }), "ns.r.api");
  assert.equal(renderStatPrefix("{{route_name}}.{{rule_name}}.x", site), "r.x");
  assert.equal(renderStatPrefix("{{route_name}}-{{rule_name}}", site), "r-");
  ok(readStatPrefix(t, routeOnly));
  for (const bad of ["", "a b", "{{gateway_name}}", "{{route_name}", "a/b", "x".repeat(257)])
    assert.deepEqual(paths(readStatPrefix(bad, routeOnly)), ["statPrefix"], bad);
  assert.deepEqual(paths(readStatPrefix("x", onGateway)), ["statPrefix"]);
});
