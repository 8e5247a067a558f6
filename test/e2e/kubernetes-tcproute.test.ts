// TCPRoute and TLSRoute through the Kubernetes path: the gateway-api v1.6.1 standard-channel CRDs
// (v1 for both) validate what kubectl applies, the watcher informs on both kinds with the chart's
// least-privilege RBAC, and Waymark's status lands on the objects (server-side apply on /status).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { podNetworkProblem, tempDir, waitFor } from "@waymark/testing";
import { type KubeStack, kubeSkip, startKubeStack } from "../lib/kube-stack.ts";

type Cond = { type: string; status: string; reason: string; message: string };
type RouteStatus = { parents?: Array<{ controllerName: string; conditions: Cond[] }> };

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata:
  name: data
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: data
spec:
  gatewayClassName: kgateway-waypoint
  listeners:
  - name: proxy
    port: 15088
    protocol: istio.io/PROXY
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: data
  labels:
    istio.io/use-waypoint: waypoint
spec:
  selector: {app: db}
  ports:
  - {name: tcp-postgres, port: 5432}
  - {name: tls, port: 443}
  - {name: http, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata:
  name: postgres
  namespace: data
spec:
  parentRefs:
  - {group: "", kind: Service, name: db, port: 5432}
  rules:
  - backendRefs:
    - {name: db, port: 5432}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata:
  name: on-http
  namespace: data
spec:
  parentRefs:
  - {group: "", kind: Service, name: db, port: 8080}
  rules:
  - backendRefs:
    - {name: db, port: 5432}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: sni
  namespace: data
spec:
  parentRefs:
  - {group: "", kind: Service, name: db, port: 443}
  hostnames: ["db.example.com"]
  rules:
  - backendRefs:
    - {name: db, port: 443}
    - {name: missing, port: 443}
`;

describe("kubernetes: TCPRoute and TLSRoute", { timeout: 240_000, skip: kubeSkip }, () => {
  let s: KubeStack;
  const status = async (kind: string, name: string) => {
    const o = JSON.parse(await s.cluster.kubectl(["-n", "data", "get", kind, name, "-o", "json"])) as {
      status?: RouteStatus & Record<string, unknown>;
    };
    return o.status;
  };
  const ours = async (kind: string, name: string) =>
    waitFor(`${kind} ${name}'s status from Waymark`, async () => {
      const p = (await status(kind, name))?.parents?.find((x) => x.controllerName === "waymark.dev/waymark");
      return p && Object.fromEntries(p.conditions.map((c) => [c.type, c]));
    });

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    s = await startKubeStack({ logDir: tempDir("e2e-kube-tcproute") });
    await s.cluster.kubectl(["apply", "-f", "-"], { input: MANIFESTS });
  });

  after(async () => {
    await s?.stop();
  });

  test("a TCPRoute on a TCP port: Accepted; on an HTTP port: NotAllowedByListeners", async () => {
    const ok = await ours("tcproute", "postgres");
    assert.equal(ok["Accepted"]?.status, "True");
    assert.equal(ok["ResolvedRefs"]?.status, "True");
    const bad = await ours("tcproute", "on-http");
    assert.equal(bad["Accepted"]?.status, "False");
    assert.equal(bad["Accepted"]?.reason, "NotAllowedByListeners");
    assert.match(bad["Accepted"]?.message ?? "", /no TCP port among the selected port\(s\) 8080/);
  });

  test("a TLSRoute on a TLS port: Accepted; its missing backend: ResolvedRefs=False BackendNotFound", async () => {
    const c = await ours("tlsroute", "sni");
    assert.equal(c["Accepted"]?.status, "True");
    assert.equal(c["ResolvedRefs"]?.status, "False");
    assert.equal(c["ResolvedRefs"]?.reason, "BackendNotFound");
    assert.match(c["ResolvedRefs"]?.message ?? "", /backendRefs\[1\]: Service missing not found/);
  });

  test("the waypoint Gateway counts them and lists the kinds", async () => {
    const gw = await waitFor("the Gateway's attachedRoutes", async () => {
      const st = (await status("gateway", "waypoint")) as
        | { listeners?: Array<{ attachedRoutes: number; supportedKinds: Array<{ kind: string }> }> }
        | undefined;
      return st?.listeners?.[0]?.attachedRoutes === 2 && st.listeners[0];
    });
    assert.deepEqual(
      gw.supportedKinds.map((k) => k.kind),
      ["HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute"],
    );
  });

  test("v1 TLSRoute without hostnames: the API server refuses it (the CRD requires one)", async () => {
    const bad = `
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: no-hostnames, namespace: data}
spec:
  parentRefs: [{group: "", kind: Service, name: db, port: 443}]
  rules: [{backendRefs: [{name: db, port: 443}]}]
`;
    await assert.rejects(s.cluster.kubectl(["apply", "-f", "-"], { input: bad }), /hostnames/);
  });
});
