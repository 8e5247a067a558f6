// The chart installed with `helm install` onto a real node (tools/testing/src/node.ts) from the images
// scripts/build-images.sh built: every pod Ready (NATS on a PersistentVolume, the watcher, two
// translators, the xds-servers, authentication on as the chart's default); then the guide's steps
// with real pods for httpbin2, httpbin3 and the waypoint Envoy of the Deployment Waymark generates,
// and traffic through the ztunnel stand-in into that pod with the guide's responses; `kubectl scale`
// of the xds-server 2 → 4 → 1 with the waypoint kept in sync; `kubectl rollout restart` of each
// service during a stream of route changes, none lost; `helm upgrade`; `helm uninstall` leaving
// nothing of the release but what Kubernetes keeps by design (the NATS volume's claim).
// Not a test/e2e/kubernetes*.test.ts file: a kubelet needs real root in the host's network namespace.
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  freePort,
  type KubeCluster,
  type KubeNode,
  nodeBinaries,
  nodeProblem,
  type Proc,
  startKubeCluster,
  startKubeNode,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { CHART_DIR, helm } from "../lib/helm.ts";
import { echoedHeaders, httpGet } from "../lib/http.ts";
import * as guide from "../lib/kube-guide.ts";
import { DEPLOY, kubeShell, kubeSkip, startZtunnelStandin } from "../lib/kube-stack.ts";

const NS = "waymark-system";
const images = process.env["WAYMARK_IMAGES"];
const tag = process.env["WAYMARK_IMAGE_TAG"];
const skip =
  kubeSkip ||
  nodeProblem() ||
  (!images || !tag ? 'the images are missing: eval "$(scripts/build-images.sh)"' : false) ||
  (!nodeBinaries()?.coredns ? "CoreDNS is missing: run scripts/bootstrap-node.sh" : false) ||
  (!process.env["WAYMARK_HELM"] ? "helm is missing: run scripts/bootstrap-helm.sh" : false);

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: Array<{ image: string }> };
  status: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}
const isReady = (p: Pod) =>
  p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

/** images.txt: archive file → the reference in it. */
function imageRefs(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(dir, "images.txt"), "utf8").trim().split("\n")) {
    const [file, ref] = line.split(" ");
    m.set(file!, ref!);
  }
  return m;
}

describe("helm install on a real node: the guide with real pods, scaling, restarts", {
  timeout: 1_800_000,
  skip,
}, () => {
  let cluster: KubeCluster;
  let node: KubeNode;
  let logDir: string;
  let refs: Map<string, string>;
  const procs: Proc[] = [];
  const port: Record<string, number> = {};
  const k = (args: string[], input?: string) => cluster.kubectl(args, input === undefined ? {} : { input });
  let sh: (script: string) => Promise<string>;
  const helmArgs = (args: string[]) => [...args, "--kubeconfig", cluster.adminKubeconfig];
  /** The pods of a namespace (with a label selector), terminating ones included. */
  const listPods = async (ns: string, selector?: string) =>
    (
      JSON.parse(await k(["-n", ns, "get", "pods", ...(selector ? ["-l", selector] : []), "-o", "json"])) as {
        items: Pod[];
      }
    ).items;
  const readyPods = async (ns: string, selector: string) =>
    (await listPods(ns, selector)).filter((p) => !p.metadata.deletionTimestamp && isReady(p));
  /** Every pod of the release Ready: NATS, the watcher, two translators and the xds-servers. */
  const releaseReady = async () => {
    let notReady = "";
    await waitFor(
      "every pod of the release Ready",
      async () => {
        const live = (await listPods(NS)).filter((p) => !p.metadata.deletionTimestamp);
        const waiting = live.filter((p) => !isReady(p));
        notReady = waiting.map((p) => `${p.metadata.name} (${p.status.phase})`).join(", ");
        return live.length >= 6 && waiting.length === 0;
      },
      600_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; not Ready: ${notReady || "none yet"}`);
    });
  };
  /** The header value httpbin2's route adds, as the waypoint serves it (undefined: no answer yet). */
  const servedApp = async () => {
    const r = await httpGet(port["httpbin2"]!, "httpbin2:8000", "/headers").catch(() => undefined);
    if (r?.status !== 200) return undefined;
    return echoedHeaders(r)["App"]?.join(",");
  };
  const setApp = (value: string) => sh(guide.routeHttpbin2.replace("value: httpbin2\n", `value: ${value}\n`));

  before(async () => {
    logDir = tempDir("e2e-node-helm");
    console.log(`logs: ${logDir}`);
    refs = imageRefs(images!);
    cluster = await startKubeCluster({
      logDir,
      podAccess: true,
      manifests: [join(DEPLOY, "crds")],
    });
    sh = kubeShell(cluster.adminKubeconfig);
    node = await startKubeNode({ cluster, logDir, dns: true });
    // The cluster's KWOK node runs nothing: every pod goes to the real one.
    await k(["cordon", "kwok-node-0"]);
    for (const file of [
      "waymark-watcher.tar",
      "waymark-translator.tar",
      "waymark-xds-server.tar",
      "envoy.tar",
      "nats.tar",
      "go-httpbin.tar",
    ])
      await node.importImage(join(images!, file));
    // The guide's Deployments name the upstream go-httpbin image: ours, under that name.
    await node.ctr(["images", "tag", refs.get("go-httpbin.tar")!, "docker.io/mccutchen/go-httpbin:v2.14.0"]);
    // NATS's volume: a PersistentVolume on the node (no provisioner here), for the StatefulSet's claim.
    const pvDir = join(node.dir, "nats-pv");
    mkdirSync(pvDir, { recursive: true });
    chownSync(pvDir, 1000, 1000);
    chmodSync(pvDir, 0o750);
    await k(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: "waymark-test-nats" },
        spec: {
          capacity: { storage: "2Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName: "waymark-test-local",
          persistentVolumeReclaimPolicy: "Retain",
          hostPath: { path: pvDir, type: "Directory" },
        },
      }),
    );
  });

  after(async () => {
    for (const p of procs) await p.stop().catch(() => {});
    await node?.stop();
    await cluster?.stop();
  });

  const release = () => [
    "--namespace",
    NS,
    "--set",
    `image.registry=localhost/waymark`,
    "--set",
    `image.tag=${tag}`,
    "--set",
    "image.pullPolicy=Never",
    "--set",
    `waypoint.image=${refs.get("envoy.tar")}`,
    "--set",
    `nats.image=${refs.get("nats.tar")}`,
    "--set",
    "nats.pullPolicy=Never",
    "--set",
    "nats.storage.storageClassName=waymark-test-local",
    "--set",
    "xdsServer.autoscaling.enabled=false",
  ];

  test("helm install: every pod of the release Ready on the node, from the built images", async () => {
    const t0 = performance.now();
    helm(helmArgs(["install", "waymark", CHART_DIR, "--create-namespace", ...release()]));
    // Our own wait rather than helm's --wait: on a timeout it says which pod is not Ready.
    await releaseReady();
    console.log(`helm install → every pod Ready: ${Math.round(performance.now() - t0)} ms`);
    const pods = await listPods(NS);
    const names = pods.map((p) => p.metadata.name).sort();
    console.log(names.join(" "));
    for (const want of ["waymark-nats-0", "waymark-watcher", "waymark-translator", "waymark-xds-server"])
      assert.ok(
        names.some((n) => n.startsWith(want)),
        `${want} in ${names.join(", ")}`,
      );
    for (const p of pods) {
      assert.equal(p.spec.nodeName, node.name, p.metadata.name);
      assert.equal(p.status.conditions?.find((c) => c.type === "Ready")?.status, "True", p.metadata.name);
      for (const c of p.spec.containers) assert.match(c.image, /^localhost\/waymark\//, p.metadata.name);
    }
    assert.equal((await readyPods(NS, "app.kubernetes.io/component=xds-server")).length, 2);
    assert.equal((await readyPods(NS, "app.kubernetes.io/component=translator")).length, 2);
  });

  test("the guide with real pods: the waypoint Deployment Waymark generates serves httpbin2 and httpbin3", async () => {
    await sh(guide.createNamespace);
    await sh(guide.deployHttpbin2);
    await sh(guide.deployHttpbin3);
    for (const d of ["httpbin2", "httpbin3"])
      await sh(`kubectl -n httpbin rollout status deploy ${d} --timeout=180s\n`);
    await sh("kubectl label ns httpbin istio.io/dataplane-mode=ambient\n");
    await sh(guide.createWaypoint);
    await waitFor(
      "the waypoint Deployment Waymark generates",
      () => k(["-n", "httpbin", "get", "deployment", "kgateway-waypoint"]).then(() => true),
      60_000,
      200,
    );
    await sh(`timeout 180 ${guide.rolloutStatus.trim()}`);
    await sh(guide.labelServices);
    await sh(guide.routeHttpbin2);
    await sh(guide.routeHttpbin3);
    const [waypoint] = await readyPods("httpbin", "gateway.networking.k8s.io/gateway-name=kgateway-waypoint");
    assert.ok(waypoint?.status.podIP, "the waypoint pod is Ready with an IP");
    const routes: Array<{ port: number; vip: string; servicePort: number }> = [];
    for (const svc of ["httpbin2", "httpbin3"]) {
      port[svc] = await freePort();
      const vip = (await k(["-n", "httpbin", "get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])).trim();
      routes.push({ port: port[svc], vip, servicePort: 8000 });
    }
    procs.push(startZtunnelStandin({ waypoint: `${waypoint.status.podIP}:15088`, routes, logDir }));
    // The guide's responses: httpbin2's route adds App: httpbin2, sets User-Agent, removes X-Remove.
    const r2 = await waitFor(
      "httpbin2 through the waypoint pod",
      async () => {
        const r = await httpGet(port["httpbin2"]!, "httpbin2:8000", "/headers", {
          "X-Remove": "this header",
        }).catch(() => undefined);
        return r?.status === 200 && echoedHeaders(r)["App"] ? r : undefined;
      },
      120_000,
      500,
    );
    const h2 = echoedHeaders(r2);
    assert.deepEqual(h2["App"], ["httpbin2"]);
    assert.deepEqual(h2["User-Agent"], ["custom"]);
    assert.equal(h2["X-Remove"], undefined);
    const r3 = await httpGet(port["httpbin3"]!, "httpbin3:8000", "/headers");
    assert.equal(r3.status, 200);
    assert.deepEqual(echoedHeaders(r3)["App"], ["httpbin3"]);
    // The answer came from a real pod: go-httpbin's -use-real-hostname names it.
    const hostname = await httpGet(port["httpbin3"]!, "httpbin3:8000", "/hostname");
    assert.match(hostname.body, /httpbin3-/);
  });

  test("kubectl scale of the xds-server 2 → 4 → 1: the waypoint stays in sync after each", async () => {
    let n = 0;
    for (const replicas of [4, 1]) {
      const t0 = performance.now();
      await k(["-n", NS, "scale", "deploy/waymark-xds-server", `--replicas=${replicas}`]);
      await waitFor(
        `${replicas} xds-server pods Ready and no other`,
        async () => {
          return (
            (await listPods(NS, "app.kubernetes.io/component=xds-server")).length === replicas &&
            (await readyPods(NS, "app.kubernetes.io/component=xds-server")).length === replicas
          );
        },
        180_000,
        500,
      );
      const scaled = performance.now();
      const value = `scaled-${replicas}-${n++}`;
      await setApp(value);
      await waitFor(`the waypoint serves ${value}`, async () => (await servedApp()) === value, 120_000, 250);
      console.log(
        `scale to ${replicas}: ${Math.round(scaled - t0)} ms to ${replicas} Ready; a change then served in ${Math.round(performance.now() - scaled)} ms`,
      );
    }
  });

  test("kubectl rollout restart of each service during a stream of route changes: none lost", async () => {
    const last = { value: "" };
    let i = 0;
    let stop = false;
    const stream = (async () => {
      while (!stop) {
        last.value = `stream-${i++}`;
        await setApp(last.value);
      }
    })();
    for (const svc of ["waymark-watcher", "waymark-translator", "waymark-xds-server"]) {
      const t = performance.now();
      await k(["-n", NS, "rollout", "restart", `deploy/${svc}`]);
      await k(["-n", NS, "rollout", "status", `deploy/${svc}`, "--timeout=300s"]);
      console.log(
        `rollout restart ${svc}: ${Math.round(performance.now() - t)} ms, ${i} changes made so far`,
      );
    }
    stop = true;
    await stream;
    const t0 = performance.now();
    console.log(`${i} route changes during the restarts; the last: ${last.value}`);
    assert.ok(i > 3, `${i} changes made`);
    await waitFor(
      `the waypoint serves the last change, ${last.value}`,
      async () => (await servedApp()) === last.value,
      180_000,
      250,
    );
    console.log(`the last change served ${Math.round(performance.now() - t0)} ms after the stream stopped`);
  });

  test("helm upgrade keeps serving; helm uninstall leaves nothing of the release behind", async () => {
    helm(helmArgs(["upgrade", "waymark", CHART_DIR, ...release(), "--set", "xdsServer.replicas=2"]));
    for (const d of ["watcher", "translator", "xds-server"])
      await k(["-n", NS, "rollout", "status", `deploy/waymark-${d}`, "--timeout=300s"]);
    await k(["-n", NS, "rollout", "status", "statefulset/waymark-nats", "--timeout=300s"]);
    await releaseReady();
    assert.equal((await readyPods(NS, "app.kubernetes.io/component=xds-server")).length, 2);
    await setApp("upgraded");
    await waitFor(
      "the waypoint serves the change after the upgrade",
      async () => (await servedApp()) === "upgraded",
      120_000,
      250,
    );

    helm(helmArgs(["uninstall", "waymark", "--namespace", NS, "--wait", "--timeout", "5m"]));
    await waitFor("the release's pods gone", async () => (await listPods(NS)).length === 0, 180_000, 500);
    const left = (
      await k([
        "-n",
        NS,
        "get",
        "all,configmap,secret,serviceaccount,role,rolebinding,pvc,lease,networkpolicy,pdb",
        "-o",
        "name",
      ])
    )
      .split("\n")
      .filter(Boolean)
      // What Kubernetes itself keeps in every namespace, and the StatefulSet's claim, which
      // Kubernetes keeps by design when a StatefulSet goes (its PersistentVolumeClaimRetentionPolicy
      // defaults to Retain): the data outlives the release until it is deleted by hand.
      .filter(
        (o) =>
          !/^(configmap\/kube-root-ca\.crt|serviceaccount\/default|persistentvolumeclaim\/data-waymark-nats-0)$/.test(
            o,
          ),
      );
    assert.deepEqual(left, []);
    // Cluster-scoped: the release's (by its labels: the watcher's ClusterRole and binding, the
    // GatewayClass), and the GatewayClass by name.
    const clusterWide = [
      ...(
        await k([
          "get",
          "clusterrole,clusterrolebinding,gatewayclass",
          "-l",
          "app.kubernetes.io/instance=waymark",
          "-o",
          "name",
        ])
      ).split("\n"),
      ...(await k(["get", "gatewayclass", "-o", "name"]))
        .split("\n")
        .filter((o) => o.endsWith("/kgateway-waypoint")),
    ].filter(Boolean);
    assert.deepEqual(clusterWide, []);
  });
});
