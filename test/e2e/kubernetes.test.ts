// The guide on a real Kubernetes API server: its kubectl steps verbatim, Waymark running (watcher with
// WAYMARK_SOURCE=kube and least-privilege RBAC, translator, xds-server), every status and created
// object checked with kubectl, then traffic through an Envoy bootstrapped from the ConfigMap Waymark
// created, to go-httpbins serving the KWOK pods' IPs (so the EndpointSlices the controller made are
// the real ones), then the guide's cleanup and nothing of Waymark's left.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, infraKey } from "@waymark/api";
import { connectBus, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { type EnvoyProc, freePort, type Proc, podNetworkProblem, tempDir, waitFor } from "@waymark/testing";
import { echoedHeaders, httpGet } from "../lib/http.ts";
import * as guide from "../lib/kube-guide.ts";
import {
  type KubeStack,
  kubeSkip,
  startHttpbinAt,
  startKubeStack,
  startWaypointEnvoy,
  startZtunnelStandin,
} from "../lib/kube-stack.ts";

type Cond = { type: string; status: string; reason: string; observedGeneration?: number };
const cond = (list: Cond[] | undefined, type: string) => list?.find((c) => c.type === type);

describe("kubernetes: the guide's kubectl steps with Waymark", { timeout: 240_000, skip: kubeSkip }, () => {
  let s: KubeStack;
  let logDir: string;
  let nc: NatsConnection;
  const extra: Array<Proc | EnvoyProc> = [];
  const get = async (kind: string, name: string, ns = "httpbin") =>
    JSON.parse(await s.cluster.kubectl([...(ns ? ["-n", ns] : []), "get", kind, name, "-o", "json"])) as {
      metadata: Record<string, unknown> & {
        uid: string;
        generation?: number;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>;
      };
      spec: Record<string, unknown>;
      status?: Record<string, unknown>;
      data?: Record<string, string>;
    };

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    logDir = tempDir("e2e-kube");
    console.log(`logs: ${logDir}`);
    const t = performance.now();
    s = await startKubeStack({ logDir });
    console.log(`cluster up in ${Math.round(performance.now() - t)} ms`, s.cluster.timings);
    nc = await connectBus({ servers: s.nats.url, name: "e2e-kube", log: createLogger("e2e") });
    // The guide assumes kgateway installed in kgateway-system; its step 5 labels that namespace.
    await s.cluster.kubectl(["create", "namespace", "kgateway-system"]);
  });

  after(async () => {
    for (const p of extra.reverse()) await p.stop().catch(() => {});
    await nc?.close();
    await s?.stop();
  });

  test("GatewayClass installed by Waymark, Accepted", async () => {
    const gc = await waitFor(
      "GatewayClass Accepted",
      async () => {
        const o = await get("gatewayclass", "kgateway-waypoint", "").catch(() => undefined);
        return (
          cond((o?.status as { conditions?: Cond[] } | undefined)?.conditions, "Accepted")?.status ===
            "True" && o
        );
      },
      30_000,
      200,
    );
    assert.equal(gc.metadata.annotations?.["ambient.istio.io/waypoint-inbound-binding"], "PROXY/15088");
    assert.equal(gc.spec["controllerName"], "waymark.dev/waymark");
  });

  test("the guide's steps: apps, namespace labels, waypoint, rollout", async () => {
    await s.sh(guide.createNamespace);
    await s.sh(guide.deployHttpbin2);
    await s.sh(guide.deployHttpbin3);
    await s.sh(guide.deployClient);
    await s.sh(guide.labelNamespaces);
    await s.sh(guide.createWaypoint);
    // A person runs the next step a moment later; Waymark creates the Deployment within a second.
    await waitFor(
      "the waypoint Deployment",
      () => get("deployment", "kgateway-waypoint").then(() => true),
      20_000,
      100,
    );
    const out = await s.sh(`timeout 90 ${guide.rolloutStatus.trim()}`);
    assert.match(out, /deployment "kgateway-waypoint" successfully rolled out/);
    await s.sh(guide.getPods);
    await s.sh(guide.labelServices);
    await s.sh(guide.routeHttpbin2);
    await s.sh(guide.routeHttpbin3);
    await s.sh(guide.trafficPolicy);
  });

  test("the waypoint's objects: named after the Gateway, owned by it, labelled as kgateway does", async () => {
    const gw = await get("gateway", "kgateway-waypoint");
    for (const kind of ["deployment", "service", "serviceaccount", "configmap"]) {
      const o = await get(kind, "kgateway-waypoint");
      const owner = o.metadata.ownerReferences?.[0];
      assert.deepEqual(
        [owner?.kind, owner?.name, owner?.uid, owner?.controller],
        ["Gateway", "kgateway-waypoint", gw.metadata.uid, true],
        kind,
      );
      assert.equal(o.metadata.labels?.["gateway.networking.k8s.io/gateway-name"], "kgateway-waypoint", kind);
      assert.equal(
        o.metadata.labels?.["gateway.networking.k8s.io/gateway-class-name"],
        "kgateway-waypoint",
        kind,
      );
      assert.equal(o.metadata.labels?.["app.kubernetes.io/component"], "proxy", kind);
    }
    const svc = await get("service", "kgateway-waypoint");
    assert.deepEqual(
      (svc.spec["ports"] as Array<{ name: string; port: number }>).map((p) => [p.name, p.port]),
      [
        ["listener-15088", 15088],
        ["listener-15008", 15008],
      ],
    );
    const dep = await get("deployment", "kgateway-waypoint");
    const pod = dep.spec["template"] as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { serviceAccountName: string };
    };
    assert.equal(pod.metadata.labels["istio.io/dataplane-mode"], "ambient");
    assert.equal(pod.metadata.annotations["ambient.istio.io/dns-capture"], "false");
    assert.equal(pod.spec.serviceAccountName, "kgateway-waypoint");
    const infra = await openBucket(nc, Bucket.infra);
    assert.deepEqual(await listKeys(infra), [infraKey({ namespace: "httpbin", name: "kgateway-waypoint" })]);
  });

  test("Gateway Accepted and Programmed, addresses = the waypoint Service's ClusterIP, 2 attached routes", async () => {
    const svc = await get("service", "kgateway-waypoint");
    const gw = await waitFor(
      "Gateway status with addresses and 2 routes",
      async () => {
        const o = await get("gateway", "kgateway-waypoint");
        const st = o.status as
          | { addresses?: Array<{ value: string }>; listeners?: Array<{ attachedRoutes: number }> }
          | undefined;
        return (st?.addresses?.length ?? 0) > 0 && st?.listeners?.[0]?.attachedRoutes === 2 && o;
      },
      30_000,
      200,
    );
    const st = gw.status as {
      conditions: Cond[];
      addresses: Array<{ type: string; value: string }>;
      listeners: Array<{
        name: string;
        attachedRoutes: number;
        supportedKinds: unknown[];
        conditions: Cond[];
      }>;
    };
    assert.equal(cond(st.conditions, "Accepted")?.status, "True");
    assert.equal(cond(st.conditions, "Programmed")?.status, "True");
    assert.equal(cond(st.conditions, "Accepted")?.observedGeneration, gw.metadata.generation);
    assert.deepEqual(st.addresses, [{ type: "IPAddress", value: svc.spec["clusterIP"] }]);
    assert.equal(st.listeners[0]?.name, "proxy");
    assert.deepEqual(st.listeners[0]?.supportedKinds, [
      { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
      { group: "gateway.networking.k8s.io", kind: "GRPCRoute" },
      { group: "gateway.networking.k8s.io", kind: "TCPRoute" },
      { group: "gateway.networking.k8s.io", kind: "TLSRoute" },
    ]);
    assert.equal(cond(st.listeners[0]?.conditions, "Accepted")?.status, "True");
  });

  test("each HTTPRoute's Service parent: Accepted, ResolvedRefs", async () => {
    for (const name of ["httpbin2", "httpbin3"]) {
      const r = await waitFor(
        `${name} status`,
        async () => {
          const o = await get("httproute", name);
          return ((o.status as { parents?: unknown[] } | undefined)?.parents?.length ?? 0) > 0 && o;
        },
        30_000,
        200,
      );
      const parents = (
        r.status as {
          parents: Array<{
            parentRef: { name: string; kind: string };
            controllerName: string;
            conditions: Cond[];
          }>;
        }
      ).parents;
      assert.equal(parents.length, 1);
      assert.equal(parents[0]?.parentRef.name, name);
      assert.equal(parents[0]?.parentRef.kind, "Service");
      assert.equal(parents[0]?.controllerName, "waymark.dev/waymark");
      assert.equal(cond(parents[0]?.conditions, "Accepted")?.status, "True");
      assert.equal(cond(parents[0]?.conditions, "ResolvedRefs")?.status, "True");
    }
  });

  test("a GRPCRoute is watched and gets its status: on httpbin2's HTTP/1 port, NotAllowedByListeners", async () => {
    // Through the API server's GRPCRoute CRD, the watcher's informer and its RBAC (grpcroutes,
    // grpcroutes/status); the Service port (http, 8000) is not HTTP/2, so the route is refused.
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "grpc-on-http", namespace: "httpbin" },
      spec: {
        parentRefs: [{ group: "", kind: "Service", name: "httpbin2", port: 8000 }],
        rules: [{ backendRefs: [{ name: "httpbin2", port: 8000 }] }],
      },
    };
    await s.cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(route) });
    const accepted = await waitFor(
      "the GRPCRoute's status",
      async () => {
        const o = await get("grpcroute", "grpc-on-http");
        const parents = (o.status as { parents?: Array<{ conditions: Cond[] }> } | undefined)?.parents;
        return cond(parents?.[0]?.conditions, "Accepted");
      },
      30_000,
      200,
    );
    assert.equal(accepted.status, "False");
    assert.equal(accepted.reason, "NotAllowedByListeners");
    await s.cluster.kubectl(["-n", "httpbin", "delete", "grpcroute", "grpc-on-http"]);
  });

  test("the API server rejects a malformed TrafficPolicy", async () => {
    await assert.rejects(
      s.cluster.kubectl(["apply", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "gateway.kgateway.dev/v1alpha1",
          kind: "TrafficPolicy",
          metadata: { name: "bad", namespace: "httpbin" },
          spec: { targetRefs: [{ group: "", kind: "Service", name: "httpbin2" }] },
        }),
      }),
      /Unsupported value: "Service"|targetRefs/,
    );
  });

  test("traffic through an Envoy bootstrapped from Waymark's ConfigMap: the guide's header control", async () => {
    // go-httpbins on the KWOK pods' IPs (port 8080, the containers' port): the controller-made
    // EndpointSlices point at them.
    for (const app of ["httpbin2", "httpbin3"]) {
      const ip = await waitFor(
        `${app} pod IP`,
        async () =>
          (
            await s.cluster.kubectl([
              "-n",
              "httpbin",
              "get",
              "pods",
              "-l",
              `app=${app}`,
              "-o",
              "jsonpath={.items[0].status.podIP}",
            ])
          ).trim() || undefined,
        30_000,
        200,
      );
      extra.push(await startHttpbinAt({ name: app, host: ip, port: 8080, logDir }));
    }
    const { envoy } = await startWaypointEnvoy({
      cluster: s.cluster,
      namespace: "httpbin",
      name: "kgateway-waypoint",
      logDir,
    });
    extra.push(envoy);
    const port: Record<string, number> = {};
    const routes: Array<{ port: number; vip: string; servicePort: number }> = [];
    for (const svc of ["httpbin2", "httpbin3"]) {
      port[svc] = await freePort();
      routes.push({
        port: port[svc],
        vip: (await get("service", svc)).spec["clusterIP"] as string,
        servicePort: 8000,
      });
    }
    extra.push(startZtunnelStandin({ waypoint: `${s.bindAddress}:15088`, routes, logDir }));
    let last = "";
    const h2 = await waitFor(
      "httpbin2 through the waypoint",
      async () => {
        const r = await httpGet(port["httpbin2"]!, "httpbin2:8000", "/get", {
          "X-Remove": "this header",
        }).catch((e: Error) => {
          last = e.message;
          return undefined;
        });
        if (r) last = `${r.status} ${r.body.slice(0, 200)}`;
        return r?.status === 200 && r;
      },
      30_000,
      200,
    ).catch(async (err: Error) => {
      const dump = JSON.parse(await envoy.admin("/config_dump")) as unknown;
      console.log(
        JSON.stringify(dump).match(
          /"filter_chain_match":\{[^}]*\}|"socket_address":\{[^}]*\}|"lb_endpoints":\[[^\]]*\]/g,
        ),
      );
      const clusters = await envoy.admin("/clusters");
      throw new Error(
        `${err.message}; last: ${last}\n${clusters
          .split("\n")
          .filter((l) => /health_flags|cx_active|::1|hostname/.test(l) || l.includes("127."))
          .slice(0, 20)
          .join("\n")}`,
      );
    });
    const hh2 = echoedHeaders(h2);
    assert.deepEqual(hh2["App"], ["httpbin2"]);
    assert.deepEqual(hh2["User-Agent"], ["custom"]);
    assert.equal(hh2["X-Remove"], undefined);
    const hh3 = echoedHeaders(
      await httpGet(port["httpbin3"]!, "httpbin3:8000", "/get", { "X-Remove": "this header" }),
    );
    assert.deepEqual(hh3["App"], ["httpbin3"]);
    assert.deepEqual(hh3["User-Agent"], ["curl/8.7.1"]);
    assert.deepEqual(hh3["X-Remove"], ["this header"]);
  });

  test("the guide's cleanup removes everything Waymark created", async () => {
    await s.sh(guide.cleanup);
    await waitFor(
      "waypoint objects gone",
      async () => {
        const left = await s.cluster.kubectl([
          "-n",
          "httpbin",
          "get",
          "deployment,service,serviceaccount,configmap",
          "-l",
          "gateway.networking.k8s.io/gateway-name=kgateway-waypoint",
          "-o",
          "name",
        ]);
        return left.trim() === "";
      },
      30_000,
      250,
    );
    const infra = await openBucket(nc, Bucket.infra);
    await waitFor("wm-infra empty", async () => (await listKeys(infra)).length === 0, 10_000, 100);
  });
});
