// Time from `kubectl apply` of a route change on a real Kubernetes API server to the waypoint Envoy's
// ACK of the route configuration that contains it, over N changes (default 20). The stack is the
// kubernetes e2e test's: the test cluster (etcd, kube-apiserver, controllers, KWOK), the watcher with
// WAYMARK_SOURCE=kube, the translator, the xds-server, and an Envoy bootstrapped from the ConfigMap
// Waymark created. The ACK time is the xds-server's record (wm-proxies `ackedAt`) of the RDS version
// that the translator's manifest names after the change. Reported twice: from starting kubectl, and
// from kubectl's return (the API server has stored the change).
import {
  Bucket,
  blobKey,
  createLogger,
  manifestKey,
  type ProxyRecord,
  type WaypointManifest,
} from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { tempDir, waitFor } from "@waymark/testing";
import { ensureKube } from "../scripts/lib/toolchain.ts";
import * as guide from "../test/lib/kube-guide.ts";
import { startKubeStack, startWaypointEnvoy } from "../test/lib/kube-stack.ts";
import { summarize } from "./stats.ts";

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 20);
  ensureKube();
  const logDir = tempDir("bench-propagation-kube");
  const t = performance.now();
  const s = await startKubeStack({ logDir });
  const clusterMs = Math.round(performance.now() - t);
  const nc = await connectBus({ servers: s.nats.url, name: "bench", log: createLogger("bench") });
  const waypoint = { namespace: "httpbin", name: "kgateway-waypoint" };
  try {
    await s.cluster.kubectl(["create", "namespace", "kgateway-system"]);
    for (const step of [
      guide.createNamespace,
      guide.deployHttpbin2,
      guide.deployHttpbin3,
      guide.labelNamespaces,
      guide.createWaypoint,
      guide.labelServices,
    ])
      await s.sh(step);
    await waitFor(
      "the waypoint ConfigMap",
      () => s.cluster.kubectl(["-n", "httpbin", "get", "configmap", waypoint.name]).then(() => true),
      20_000,
      100,
    );
    const { envoy } = await startWaypointEnvoy({ cluster: s.cluster, ...waypoint, logDir });
    const xds = await openBucket(nc, Bucket.xds);
    const proxies = await openBucket(nc, Bucket.proxies);
    const rdsVersion = async () =>
      (await getJson<WaypointManifest>(xds, manifestKey(waypoint)))?.versions[TypeUrl.route];
    /** The RDS version of the current manifest if one of its route blobs holds `text`. */
    const rdsVersionWith = async (text: string) => {
      const m = await getJson<WaypointManifest>(xds, manifestKey(waypoint));
      for (const hash of Object.values(m?.resources[TypeUrl.route] ?? {})) {
        const blob = await xds.get(blobKey(hash));
        if (blob && Buffer.from(blob.value).includes(text)) return m?.versions[TypeUrl.route];
      }
      return undefined;
    };
    const ackOf = async (version: string) => {
      for (const k of await listKeys(proxies)) {
        const r = await getJson<ProxyRecord>(proxies, k);
        const t = r?.types[TypeUrl.route];
        if (t?.ackedVersion === version && t.ackedAt) return Date.parse(t.ackedAt);
      }
      return undefined;
    };
    await s.sh(guide.routeHttpbin3);
    await waitFor("the first route's ACK", async () => {
      const v = await rdsVersion();
      return v && (await ackOf(v)) ? v : undefined;
    });
    const fromStart: number[] = [];
    const fromReturn: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = Date.now();
      await s.sh(guide.routeHttpbin3.replace("value: httpbin3", `value: httpbin3-${i}`));
      const t1 = Date.now();
      // The first route configuration that holds this change (other changes, such as EndpointSlices
      // settling, make versions too).
      const version = await waitFor(
        "a manifest with the change",
        () => rdsVersionWith(`httpbin3-${i}`),
        10_000,
        2,
      );
      const ackedAt = await waitFor("ACK of the new RDS version", () => ackOf(version), 10_000, 5);
      fromStart.push(ackedAt - t0);
      fromReturn.push(ackedAt - t1);
      await new Promise((r) => setTimeout(r, 200));
    }
    await envoy.stop();
    const a = summarize(fromStart);
    const b = summarize(fromReturn);
    return {
      scenario: "kubectl apply → Envoy ACK (Kubernetes API server)",
      changes: n,
      clusterStartMs: clusterMs,
      ...Object.fromEntries(Object.entries(a).map(([k, v]) => [`fromKubectlStart.${k}`, v])),
      ...Object.fromEntries(Object.entries(b).map(([k, v]) => [`fromKubectlReturn.${k}`, v])),
    };
  } finally {
    await nc.close();
    await s.stop();
  }
}
