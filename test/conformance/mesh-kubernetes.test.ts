// The mesh conformance suite once through the Kubernetes path: the suite's manifests (its mesh set-up
// and every test's) applied with kubectl to a real kube-apiserver with deploy/'s CRDs, so they pass
// the API server's validation (schemas and CEL rules of the pinned Gateway API CRDs), and Waymark's
// watcher reads them through its Kubernetes source (WAYMARK_SOURCE=kube, the RBAC of
// deploy/rbac.yaml), as in test/e2e/kubernetes.test.ts. The suite's Deployments become KWOK pods;
// their addresses (on the pod network's loopback, scripts/pod-network.sh) are served by the echo
// processes through forwarders, so the EndpointSlices are the controller's. The waypoint Envoy is
// bootstrapped from the ConfigMap Waymark made for the waypoint Gateway. Claims and checks are the
// standalone run's (mesh.test.ts); the table is docs/conformance.md's "kubernetes" one.
//   scripts/pod-network.sh node --test test/conformance/mesh-kubernetes.test.ts
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { freePort, type Proc, podNetworkProblem, tempDir, waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { kubeSkip, startKubeStack, startWaypointEnvoy } from "../lib/kube-stack.ts";
import { declaredFeatures } from "./lib/claims.ts";
import {
  type ClusterModel,
  GRPC_CONTAINER_PORT,
  HTTP_CONTAINER_PORT,
  type Pod,
  parseYaml,
  type ServiceModel,
  USE_WAYPOINT,
  WAYPOINT,
  WAYPOINT_PORT,
  waypointGateway,
} from "./lib/cluster.ts";
import { type Forwarder, forward } from "./lib/forward.ts";
import { CONSUMER_NS, MESH_NS, meshSuite, startClients, startEchoPods } from "./lib/harness.ts";
import { conformanceDir } from "./lib/suite.ts";

const yamlOf = (docs: KubeObject[]) => docs.map((d) => stringify(d)).join("---\n");

interface PodJson {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  status?: { podIP?: string };
}
interface ServiceJson {
  metadata: { name: string; namespace: string };
  spec: {
    clusterIP: string;
    ports: Array<{ name?: string; port: number; targetPort?: number | string; appProtocol?: string }>;
  };
}

type Cond = { type: string; status: string; reason?: string };
type RouteStatus = { parents?: Array<{ controllerName?: string; conditions?: Cond[] }> };

let kubectlOf: ((args: string[], o?: { input?: string }) => Promise<string>) | undefined;
/** Routes Waymark did not report Accepted on (read back with kubectl). */
const notAccepted: string[] = [];
let routesChecked = 0;

/**
 * Waits until Waymark's status on each route of `docs` says Accepted. (Not ResolvedRefs: the suite's
 * own GRPCRoute names a Service its manifests never create, echo-v3 with weight 0, so BackendNotFound
 * is the right condition there; the suite checks no route status in mesh tests.)
 */
async function routesAccepted(kubectl: NonNullable<typeof kubectlOf>, docs: KubeObject[]) {
  for (const d of docs.filter((o) => o.kind.endsWith("Route"))) {
    const ns = d.metadata.namespace ?? "";
    const id = `${d.kind} ${ns}/${d.metadata.name}`;
    let last = "no status";
    const ok = await waitFor(
      `${id} Accepted`,
      async () => {
        const o = JSON.parse(
          await kubectl(["-n", ns, "get", d.kind.toLowerCase(), d.metadata.name, "-o", "json"]),
        ) as {
          status?: RouteStatus;
        };
        const parents = (o.status?.parents ?? []).filter((p) => p.controllerName === "waymark.dev/waymark");
        last = JSON.stringify(
          parents.map((p) => p.conditions?.map((c) => `${c.type}=${c.status}(${c.reason})`)),
        );
        const isTrue = (p: (typeof parents)[number], t: string) =>
          p.conditions?.find((c) => c.type === t)?.status === "True";
        return parents.length > 0 && parents.every((p) => isTrue(p, "Accepted"));
      },
      30_000,
      200,
    ).catch(() => false);
    routesChecked++;
    if (!ok) notAccepted.push(`${id}: ${last}`);
  }
}

meshSuite({
  title: "Gateway API mesh conformance v1.6.1 through the Kubernetes API server, Waymark and Envoy",
  docSection: "kubernetes",
  timeoutMs: 420_000,
  skip: kubeSkip,
  async setup() {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    const dir = conformanceDir();
    const logDir = tempDir("conformance-kube");
    console.log(`logs: ${logDir}`);
    const stops: Array<() => Promise<void>> = [];
    const stopAll = async () => {
      for (const s of stops.reverse()) await s().catch(() => {});
    };
    try {
      const s = await startKubeStack({ logDir });
      stops.push(() => s.stop());
      const kubectl = s.cluster.kubectl.bind(s.cluster);
      // The suite's mesh set-up, then what the implementation adds: the namespaces enrolled in the
      // waypoint, and the waypoint.
      const setup = parseYaml(readFileSync(join(dir, "mesh", "manifests.yaml"), "utf8"));
      await kubectl(["apply", "--server-side", "-f", "-"], { input: yamlOf(setup) });
      for (const ns of [MESH_NS, CONSUMER_NS])
        await kubectl([
          "label",
          "--overwrite",
          "namespace",
          ns,
          ...Object.entries(USE_WAYPOINT).map(([k, v]) => `${k}=${v}`),
        ]);
      await kubectl(["apply", "-f", "-"], { input: yamlOf([waypointGateway()]) });
      await waitFor(
        "the waypoint's ConfigMap",
        () =>
          kubectl(["-n", WAYPOINT.namespace, "get", "configmap", WAYPOINT.name]).then(
            () => true,
            () => false,
          ),
        60_000,
        200,
      );
      const { envoy } = await startWaypointEnvoy({
        cluster: s.cluster,
        namespace: WAYPOINT.namespace,
        name: WAYPOINT.name,
        logDir,
      });
      stops.push(() => envoy.stop());

      // The echo pods (KWOK's, with their addresses) and the Services (with their cluster IPs).
      const deployments = setup.filter((o) => o.kind === "Deployment").length;
      const items = await waitFor(
        "the echo pods' addresses",
        async () => {
          const list = JSON.parse(await kubectl(["get", "pods", "-A", "-l", "app=echo", "-o", "json"])) as {
            items: PodJson[];
          };
          return list.items.length === deployments && list.items.every((p) => p.status?.podIP) && list.items;
        },
        60_000,
        200,
      );
      const pods: Pod[] = [];
      for (const p of items)
        pods.push({
          name: p.metadata.name,
          namespace: p.metadata.namespace,
          labels: p.metadata.labels ?? {},
          ip: p.status?.podIP ?? "",
          httpPort: await freePort(),
          grpcPort: await freePort(),
        });
      const services: ServiceModel[] = [];
      for (const ns of [MESH_NS, CONSUMER_NS]) {
        const list = JSON.parse(await kubectl(["-n", ns, "get", "services", "-o", "json"])) as {
          items: ServiceJson[];
        };
        for (const svc of list.items)
          services.push({
            namespace: ns,
            name: svc.metadata.name,
            vip: svc.spec.clusterIP,
            ports: svc.spec.ports.map((p) => ({
              name: p.name ?? "",
              port: p.port,
              targetPort: typeof p.targetPort === "number" ? p.targetPort : p.port,
              ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
            })),
          });
      }
      const cluster: ClusterModel = { pods, services, objects: [] };
      const h2c = await Promise.all(pods.map(() => freePort()));
      const procs: Proc[] = await startEchoPods(pods, logDir, h2c);
      stops.push(async () => void (await Promise.all(procs.map((p) => p.stop()))));
      const forwarders: Forwarder[] = [];
      stops.push(async () => void (await Promise.all(forwarders.map((f) => f.stop()))));
      for (const pod of pods) {
        forwarders.push(await forward({ host: pod.ip, port: HTTP_CONTAINER_PORT }, pod.httpPort));
        forwarders.push(await forward({ host: pod.ip, port: GRPC_CONTAINER_PORT }, pod.grpcPort));
      }
      const clients = await startClients(cluster, { host: s.bindAddress, port: WAYPOINT_PORT });
      stops.push(() => clients.stop());
      kubectlOf = kubectl;
      return {
        env: {
          conformanceDir: dir,
          cluster,
          envoy,
          standins: clients.standins,
          declared: declaredFeatures(),
          manifests: {
            async apply(_name, docs) {
              await kubectl(["apply", "-f", "-"], { input: yamlOf(docs) });
              await routesAccepted(kubectl, docs);
            },
            async remove(_name, docs) {
              await kubectl(["delete", "--wait", "-f", "-"], { input: yamlOf(docs) });
            },
          },
        },
        stop: stopAll,
      };
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
  extra() {
    test("every route of the claimed tests: Waymark's status says Accepted (kubectl)", () => {
      assert.ok(routesChecked > 0, "no route was checked");
      assert.deepEqual(notAccepted, []);
    });

    test("the API server validates the suite's kinds: a route its CRD's rules reject is refused", async () => {
      assert.ok(kubectlOf, "set-up failed");
      const bad = {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "invalid-path", namespace: MESH_NS },
        spec: {
          parentRefs: [{ group: "", kind: "Service", name: "echo", port: 80 }],
          rules: [{ matches: [{ path: { type: "PathPrefix", value: "no-leading-slash" } }] }],
        },
      };
      await assert.rejects(
        kubectlOf(["apply", "-f", "-"], { input: JSON.stringify(bad) }),
        /must be an absolute path|Invalid value/,
      );
    });
  },
});
