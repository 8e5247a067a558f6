// The mesh-shaped scenario (issue 17): many waypoints with a few replicas each, as ambient meshes run
// them (often one waypoint per namespace), instead of one waypoint with many proxies. W namespaces,
// each with its waypoint Gateway, S/W Services, R/W HTTPRoutes and T/W TrafficPolicies (header
// changes on routes); `perWaypoint` simulated Envoys per waypoint, over delta ADS to one xds-server.
// The pipeline is the propagation benchmarks' (NATS, the translator and an xds-server as processes;
// this process writes wm-objects as the watcher would). It reports
//   - one route change → both (all) proxies of its waypoint ACK its new route configuration: p50, p99
//     and max over `changes` changes, against the goal (p99 ≤ 100 ms);
//   - the translator restarted: how long until its first build is done, and how many waypoints'
//     manifests it changed (none: every proxy still holds the same versions);
//   - each process's RSS and NATS's storage at that size.
// `pnpm bench mesh-shape [waypoints=1000] [perWaypoint=2] [services=10000] [routes=20000]
//   [policies=2000] [changes=20] [workers=4]`
import { execFileSync } from "node:child_process";
import { type KubeObject, MANIFEST_PREFIX, manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson, listKeys } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { freePort, waitFor } from "@waymark/testing";
import { LoadGen, proxySpecs, sampleProcess } from "@waymark/xds-loadgen";
import { parseArgs } from "./lib/args.ts";
import { envelope } from "./lib/objects.ts";
import { startBackplane, startTranslatorProc, startXdsReplica } from "./lib/services.ts";
import { percentile } from "./stats.ts";

const GOAL_P99_MS = 100;
const GW = "gateway.networking.k8s.io";

const meta = (namespace: string, name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace,
  generation: 1,
  creationTimestamp: "2026-01-01T00:00:00Z",
  ...extra,
});

/** Namespace `mesh-<w>`: its waypoint, Services, their EndpointSlices, HTTPRoutes and TrafficPolicies. */
export function namespaceObjects(
  w: number,
  counts: { services: number; routes: number; policies: number },
  first: { service: number },
): KubeObject[] {
  const ns = `mesh-${w}`;
  const out: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "istio.io/dataplane-mode": "ambient" } },
    },
    {
      apiVersion: `${GW}/v1`,
      kind: "Gateway",
      metadata: meta(ns, "waypoint"),
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
  ];
  for (let j = 0; j < counts.services; j++) {
    const i = first.service + j; // unique across the mesh: the VIP and endpoint address
    out.push(
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(ns, `svc-${j}`, { labels: { app: `svc-${j}`, "istio.io/use-waypoint": "waypoint" } }),
        spec: {
          clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
          ports: [{ name: "http", port: 8000, targetPort: 8080, protocol: "TCP", appProtocol: "http" }],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: meta(ns, `svc-${j}-eps`, { labels: { "kubernetes.io/service-name": `svc-${j}` } }),
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: [{ addresses: [`10.1.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } }],
      } as unknown as KubeObject,
    );
  }
  for (let k = 0; k < counts.routes; k++) out.push(meshRoute(ns, k, counts.services, "v0", 1));
  for (let m = 0; m < counts.policies; m++)
    out.push({
      apiVersion: "gateway.kgateway.dev/v1alpha1",
      kind: "TrafficPolicy",
      metadata: meta(ns, `tp-${m}`),
      spec: {
        targetRefs: [{ group: GW, kind: "HTTPRoute", name: `route-${m % counts.routes}` }],
        headerModifiers: { request: { set: [{ name: "x-mesh-policy", value: `tp-${m}` }] } },
      },
    } as unknown as KubeObject);
  return out;
}

export function meshRoute(
  ns: string,
  k: number,
  services: number,
  tag: string,
  generation: number,
): KubeObject {
  const svc = `svc-${k % services}`;
  return {
    apiVersion: `${GW}/v1`,
    kind: "HTTPRoute",
    metadata: meta(ns, `route-${k}`, { generation }),
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: svc, port: 8000 }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: `/r${k}/` } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "x-mesh-route", value: `${ns}-${k}-${tag}` }] },
            },
          ],
          backendRefs: [{ name: svc, port: 8000 }],
        },
      ],
    },
  } as KubeObject;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    waypoints: 1000,
    perWaypoint: 2,
    services: 10_000,
    routes: 20_000,
    policies: 2_000,
    changes: 20,
    workers: 4,
  });
  const per = {
    services: Math.max(1, Math.floor(a.services / a.waypoints)),
    routes: Math.max(1, Math.floor(a.routes / a.waypoints)),
    policies: Math.floor(a.policies / a.waypoints),
  };
  const b = await startBackplane("mesh-shape");
  // The translator's metrics say when a build after its restart was done (translations_total).
  const metricsPort = await freePort();
  const startTranslator = () =>
    startTranslatorProc(b, 50, { WAYMARK_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` });
  const translations = async () => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(/^waymark_translator_translations_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  /** The translator's builds so far, by path (incremental or full), and their summed seconds. */
  const buildsByPath = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const n = (path: string) =>
      Number(
        new RegExp(`^waymark_translator_translations_total\\{[^}]*path="${path}"[^}]*\\} (\\d+)`, "m").exec(
          text,
        )?.[1] ?? 0,
      );
    const seconds = Number(
      /^waymark_translator_build_duration_seconds_sum\{[^}]*result="ok"[^}]*\} ([\d.e+-]+)/m.exec(
        text,
      )?.[1] ?? 0,
    );
    return { incremental: n("incremental"), full: n("full"), seconds };
  };
  let translator = await startTranslator();
  const xds = await startXdsReplica(b, "bench-0");
  const lg = await LoadGen.start(a.workers);
  const waypoint = (w: number) => ({ namespace: `mesh-${w}`, name: "waypoint" });
  const versions = async (w: number) =>
    (await getJson<WaypointManifest>(b.xds, manifestKey(waypoint(w))))?.versions;
  const write = async (objects: KubeObject[]) => {
    for (let i = 0; i < objects.length; i += 256)
      await Promise.all(
        objects.slice(i, i + 256).map((o) => {
          const e = envelope(o);
          return b.objects.put(e.key, e.value);
        }),
      );
  };
  try {
    const all: KubeObject[] = [];
    for (let w = 0; w < a.waypoints; w++)
      all.push(...namespaceObjects(w, per, { service: w * per.services }));
    const t0 = Date.now();
    await write(all);
    await waitFor(
      "every waypoint's manifest",
      async () => (await listKeys(b.xds, `${MANIFEST_PREFIX}>`)).length >= a.waypoints,
      1_800_000,
      500,
    );
    const firstBuildS = (Date.now() - t0) / 1000;

    const specs = Array.from({ length: a.waypoints }, (_, w) =>
      proxySpecs(a.perWaypoint, `waypoint.mesh-${w}`, "delta", { prefix: `w${w}` }),
    ).flat();
    const conn = await lg.connect(xds.target, specs, 600_000);
    if (conn.synced !== specs.length)
      throw new Error(`only ${conn.synced} of ${specs.length} proxies synced`);

    // One route change at a time, on a waypoint picked in turn: until its proxies ACK.
    const builds0 = await buildsByPath();
    const samples: number[] = [];
    for (let c = 0; c < a.changes; c++) {
      const w = (c * 7919) % a.waypoints;
      const before = (await versions(w))?.[TypeUrl.route];
      const k = (c * 31) % per.routes;
      const start = performance.timeOrigin + performance.now();
      await write([meshRoute(`mesh-${w}`, k, per.services, `c${c}`, 2 + c)]);
      const v = await waitFor(
        `waypoint ${w}'s new route version`,
        async () => {
          const now = (await versions(w))?.[TypeUrl.route];
          return now !== before ? now : undefined;
        },
        60_000,
        2,
      );
      const r = await lg.awaitVersion(TypeUrl.route, v, 60_000, `waypoint.mesh-${w}`);
      if (r.missing.length || r.acks.length !== a.perWaypoint)
        throw new Error(`waypoint ${w}: ${r.acks.length} ACKs, missing ${r.missing.join(", ")}`);
      samples.push(Math.max(...r.acks) - start);
    }
    const s = [...samples].sort((x, y) => x - y);
    const builds1 = await buildsByPath();

    // Memory at size, before the restart.
    const mib = (pid: number) => Math.round(sampleProcess(pid).rssBytes / 2 ** 20);
    const rss = {
      translator: mib(translator.child.pid!),
      xds: mib(xds.pid),
      nats: mib(b.nats.proc.child.pid!),
    };
    const storeMiB = Math.round(
      Number(execFileSync("du", ["-sk", b.nats.storeDir]).toString().split("\t")[0]) / 1024,
    );

    // The translator restarted: until every manifest holds the versions from before.
    const held = await Promise.all(Array.from({ length: a.waypoints }, (_, w) => versions(w)));
    await translator.stop();
    const r0 = Date.now();
    translator = await startTranslator();
    let changed = 0;
    await waitFor(
      "the restarted translator's first build, and every manifest as before",
      async () => {
        if ((await translations()) < 1) return false;
        // Identical output keeps every version: the proxies have nothing new to take.
        const now = await Promise.all(Array.from({ length: a.waypoints }, (_, w) => versions(w)));
        changed = now.filter((v, w) => JSON.stringify(v) !== JSON.stringify(held[w])).length;
        return true;
      },
      1_800_000,
      200,
    );
    const restartS = (Date.now() - r0) / 1000;
    const stats = await lg.stats();

    return {
      scenario: `${a.waypoints} waypoints × ${a.perWaypoint} proxies, ${per.services * a.waypoints} Services, ${per.routes * a.waypoints} HTTPRoutes, ${per.policies * a.waypoints} TrafficPolicies`,
      first_build_s: Math.round(firstBuildS * 10) / 10,
      change_p50_ms: Math.round(percentile(s, 50)),
      change_p99_ms: Math.round(percentile(s, 99)),
      change_max_ms: Math.round(s[s.length - 1]!),
      goal_change_p99_ms: GOAL_P99_MS,
      goal_met: percentile(s, 99) <= GOAL_P99_MS,
      change_builds: `${builds1.incremental - builds0.incremental} incremental, ${builds1.full - builds0.full} full, ${Math.round(((builds1.seconds - builds0.seconds) * 1000) / Math.max(1, a.changes))} ms per change in builds`,
      translator_restart_to_first_build_s: Math.round(restartS * 10) / 10,
      manifests_changed_by_restart: changed,
      rss_translator_mib: rss.translator,
      rss_xds_server_mib: rss.xds,
      rss_nats_mib: rss.nats,
      nats_storage_mib: storeMiB,
      proxies: stats.proxies,
    };
  } finally {
    await lg.stop();
    await xds.proc.stop();
    await translator.stop();
    await b.stop();
  }
}
