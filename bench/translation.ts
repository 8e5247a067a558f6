// Scenario 5, translation: the translator's work for R routes on one waypoint, in process: a full
// build (translate + encode every resource, cold caches) and single-object changes (translate with
// the translation memo + encode with the warm encode cache, as the service does between builds).
// Each kind of change issue 17 names is measured on its own, `changes` times in a row, each change
// applied to the state the one before left (as when a user edits objects one after the other):
//   route_edit    one route's header value changed (same parents and backends)
//   route_create  a new route on one of the services
//   route_delete  one route removed
//   tp_edit       a TrafficPolicy on one route: its response header value changed
//   tp_route_edit the route that TrafficPolicy names: its header value changed
//   tp_retarget   that TrafficPolicy moved to another route
//   tp_add        a new TrafficPolicy on another route
//   tp_remove     one of those removed
//   authz_edit    an AuthorizationPolicy on one service: its principal changed
//   slice_add     a new EndpointSlice for one of the services
//   pnpm bench translation routes=1000,5000 services=5 changes=20
import type { KubeObject } from "@waymark/api";
import { DEFAULT_SETTINGS, type ObjectJournal, TranslationMemo, translate } from "@waymark/translator";
import { buildSnapshots, EncodeCache } from "../services/translator/src/service/build.ts";
import { numbers, parseArgs } from "./lib/args.ts";
import { baseObjects, NS, objectMap, route, WAYPOINT } from "./lib/objects.ts";
import { r2 } from "./lib/targets.ts";
import { percentile } from "./stats.ts";

// The route limit raised above R: at R = 5,000 (the default limit) a route created would be the
// 5,001st, over the limit, which is not the change this measures.
const settings = { ...DEFAULT_SETTINGS, bindAddress: "127.0.0.1", maxRoutesPerWaypoint: 100_000 };
const GOAL_MS = 5;

const keyOf = (o: KubeObject) => [...objectMap([o]).keys()][0]!;

/** A TrafficPolicy tp-route-<i> on route-<target>: one response header, `value` its value. */
function trafficPolicy(i: number, value: string, generation: number, target = i): KubeObject {
  return {
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: `tp-route-${i}`, namespace: NS, generation },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: `route-${target}` }],
      transformation: { response: { set: [{ name: "x-bench-policy", value }] } },
    },
  };
}

/** An AuthorizationPolicy on service svc<i>: deny one principal. */
function authorizationPolicy(i: number, principal: string, generation: number): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: `deny-svc${i}`, namespace: NS, generation },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: `svc${i}` }],
      action: "DENY",
      rules: [{ from: [{ source: { principals: [principal] } }] }],
    },
  } as KubeObject;
}

/** EndpointSlice number `n` of service svc<i>, one ready endpoint. */
function endpointSlice(i: number, n: number): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `svc${i}-extra-${n}`,
      namespace: NS,
      generation: 1,
      labels: { "kubernetes.io/service-name": `svc${i}` },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [{ addresses: [`10.2.${n >> 8}.${n & 255}`], conditions: { ready: true } }],
  } as unknown as KubeObject;
}

const KINDS = [
  "route_edit",
  "route_create",
  "route_delete",
  "tp_edit",
  "tp_route_edit",
  "tp_retarget",
  "tp_add",
  "tp_remove",
  "authz_edit",
  "slice_add",
] as const;
type Kind = (typeof KINDS)[number];
/** The routes tp_add puts its policies on (tp_remove takes them off again), after route-1. */
const ADDED_FROM = 2;

/** The k-th change of one kind applied to `cur` (a new map; `cur` is left as it was). */
function change(
  kind: Kind,
  k: number,
  cur: Map<string, KubeObject>,
  r: number,
  services: number,
  last: number,
) {
  const next = new Map(cur);
  const i = (k * 7919) % r;
  switch (kind) {
    case "route_edit": {
      const o = route(i, services, `c${k}`, 1 + k);
      next.set(keyOf(o), o);
      break;
    }
    case "route_create": {
      const o = route(r + k, services);
      next.set(keyOf(o), o);
      break;
    }
    case "route_delete":
      // Routes 2.. (0 and 1 carry the policies); each a different one.
      next.delete(keyOf(route(2 + ((k * 7919) % (r - 2)), services)));
      break;
    case "tp_edit": {
      const o = trafficPolicy(1, `v${k}`, 1 + k);
      next.set(keyOf(o), o);
      break;
    }
    case "tp_route_edit": {
      const o = route(1, services, `c${k}`, 1 + k);
      next.set(keyOf(o), o);
      break;
    }
    case "tp_retarget": {
      // tp-route-1 onto route-2.., and back onto route-1 at the last change (for the kinds after).
      const o = trafficPolicy(1, "moved", 100 + k, k === last ? 1 : ADDED_FROM + k);
      next.set(keyOf(o), o);
      break;
    }
    case "tp_add": {
      const o = trafficPolicy(ADDED_FROM + k, "added", 1);
      next.set(keyOf(o), o);
      break;
    }
    case "tp_remove":
      next.delete(keyOf(trafficPolicy(ADDED_FROM + k, "added", 1)));
      break;
    case "authz_edit": {
      const o = authorizationPolicy(0, `cluster.local/ns/${NS}/sa/bot-${k}`, 1 + k);
      next.set(keyOf(o), o);
      break;
    }
    case "slice_add": {
      const o = endpointSlice(k % services, k);
      next.set(keyOf(o), o);
      break;
    }
  }
  return next;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { routes: "1000,5000", services: 5, changes: 20, fullRuns: 5, kinds: "all" });
  const kinds: readonly Kind[] = a.kinds === "all" ? KINDS : (String(a.kinds).split(",") as Kind[]);
  const out: Record<string, unknown> = {
    scenario: "translation: full build and single-object changes, one waypoint",
    services: a.services,
    waypoint: `${WAYPOINT.namespace}/${WAYPOINT.name}`,
    target: `full build of 1,000 routes ≤ 100 ms; any single-object change at 5,000 routes ≤ ${GOAL_MS} ms p50 (translate + encode)`,
  };
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const p = (xs: number[], q: number) => r2(percentile(sorted(xs), q));
  for (const r of numbers(a.routes)) {
    const objects = [...baseObjects(a.services)];
    for (let i = 0; i < r; i++) objects.push(route(i, a.services));
    objects.push(trafficPolicy(1, "v0", 1), authorizationPolicy(0, `cluster.local/ns/${NS}/sa/bot-0`, 1));
    const map = objectMap(objects);
    // The keys each change touched, as the service's ObjectIndex journals them: the memo then
    // compares those keys only, not every object (worked out before the clock starts).
    const journal: string[][] = [];
    const journalNow = (): ObjectJournal => {
      const generation = journal.length;
      return { generation, changedSince: (since) => journal.slice(since, generation).flat() };
    };
    const full: number[] = [];
    let cache = new EncodeCache();
    let memo = new TranslationMemo();
    for (let k = 0; k < a.fullRuns; k++) {
      cache = new EncodeCache();
      memo = new TranslationMemo();
      const t0 = performance.now();
      const res = buildSnapshots(translate({ objects: map, journal: journalNow() }, settings, memo), cache);
      full.push(performance.now() - t0);
      if (res.failures.length) throw new Error(`build failed: ${String(res.failures[0]!.error)}`);
    }
    out[`full_${r}_p50_ms`] = p(full, 50);
    let current = map;
    for (const kind of kinds) {
      const inc: number[] = [];
      const translateOnly: number[] = [];
      const incremental0 = memo.incremental;
      for (let k = 1; k <= a.changes; k++) {
        const next = change(kind, k, current, r, a.services, a.changes);
        const touched = [...next.keys()].filter((key) => next.get(key) !== current.get(key));
        for (const key of current.keys()) if (!next.has(key)) touched.push(key);
        journal.push(touched);
        current = next;
        const t0 = performance.now();
        const output = translate({ objects: next, journal: journalNow() }, settings, memo);
        const t1 = performance.now();
        const res = buildSnapshots(output, cache);
        inc.push(performance.now() - t0);
        translateOnly.push(t1 - t0);
        if (res.failures.length) throw new Error(`${kind}: build failed: ${String(res.failures[0]!.error)}`);
      }
      const p50 = p(inc, 50);
      out[`${kind}_${r}_p50_ms`] = p50;
      out[`${kind}_${r}_p99_ms`] = p(inc, 99);
      out[`${kind}_${r}_translate_p50_ms`] = p(translateOnly, 50);
      out[`${kind}_${r}_incremental`] = `${memo.incremental - incremental0}/${a.changes}`;
      if (r >= 5000)
        out[`${kind}_${r}_goal`] = `${p50} ms p50 vs ≤ ${GOAL_MS} ms: ${p50 <= GOAL_MS ? "met" : "missed"}`;
    }
  }
  return out;
}
