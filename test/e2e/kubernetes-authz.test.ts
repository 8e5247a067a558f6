// Istio's AuthorizationPolicy on the Kubernetes path: a real API server with Istio's security.istio.io
// CRDs (from the istio.io/api module), Waymark running as in kubernetes.test.ts (the watcher with the
// RBAC of deploy/rbac.yaml), policies applied with kubectl, their status read back with kubectl, and
// the verdicts seen through an Envoy bootstrapped from Waymark's ConfigMap, reached through two ztunnel
// stand-ins that present different peer identities.
//   deny-anything-denied  DENY, targetRefs the waypoint Gateway: paths /anything/denied*
//   allow-client          ALLOW, targetRefs Service httpbin2 (enrolled): principal of sa/client only
//   allow-unbound         ALLOW, targetRefs Service httpbin3 (no waypoint): AncestorNotBound
//   selector-only         a `selector` policy: ztunnel's, so no condition from Waymark
// and then a RequestAuthentication bound to the Gateway (inline JWKS): status, 401 for a bad token;
// last, a CUSTOM policy whose provider comes from Istio's mesh config ConfigMap istio-system/istio
// applied, broken and deleted with kubectl: its status follows the ConfigMap.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  createIssuer,
  type EnvoyProc,
  freePort,
  type Proc,
  podNetworkProblem,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { httpGet } from "../lib/http.ts";
import * as guide from "../lib/kube-guide.ts";
import {
  type KubeStack,
  kubeSkip,
  REPO_ROOT,
  startHttpbinAt,
  startKubeStack,
  startWaypointEnvoy,
} from "../lib/kube-stack.ts";

const NS = "httpbin";
const WAYPOINT = "kgateway-waypoint";
const CLIENT = "spiffe://cluster.local/ns/httpbin/sa/client";
const OTHER = "spiffe://cluster.local/ns/httpbin/sa/other";
const ISTIO = "security.istio.io/v1";
/** The condition types Waymark writes on Istio policies. */
const OURS = ["WaypointAccepted", "waymark.dev/Translated"];

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}
interface Policy {
  metadata: { name: string; generation?: number };
  status?: { conditions?: Cond[] };
}

const policies = {
  deny: {
    apiVersion: ISTIO,
    kind: "AuthorizationPolicy",
    metadata: { name: "deny-anything-denied", namespace: NS },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: WAYPOINT }],
      action: "DENY",
      rules: [{ to: [{ operation: { paths: ["/anything/denied*"] } }] }],
    },
  },
  allow: {
    apiVersion: ISTIO,
    kind: "AuthorizationPolicy",
    metadata: { name: "allow-client", namespace: NS },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "httpbin2" }],
      action: "ALLOW",
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/httpbin/sa/client"] } }] }],
    },
  },
  unbound: {
    apiVersion: ISTIO,
    kind: "AuthorizationPolicy",
    metadata: { name: "allow-unbound", namespace: NS },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "httpbin3" }],
      action: "ALLOW",
      rules: [{}],
    },
  },
  selector: {
    apiVersion: ISTIO,
    kind: "AuthorizationPolicy",
    metadata: { name: "selector-only", namespace: NS },
    spec: { selector: { matchLabels: { app: "httpbin2" } }, action: "DENY", rules: [{}] },
  },
};

describe("kubernetes: Istio AuthorizationPolicy on the waypoint", {
  timeout: 240_000,
  skip: kubeSkip,
}, () => {
  let s: KubeStack;
  let logDir: string;
  const extra: Array<Proc | EnvoyProc> = [];
  /** The local port of each ztunnel stand-in (by identity), routed to httpbin2's VIP. */
  const port: Record<string, number> = {};
  const kubectl = (args: string[], input?: string) =>
    s.cluster.kubectl(args, input === undefined ? {} : { input });
  const apply = (...objs: unknown[]) =>
    kubectl(["apply", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n---\n"));
  const getPolicy = async (name: string) =>
    JSON.parse(await kubectl(["-n", NS, "get", "authorizationpolicy", name, "-o", "json"])) as Policy;
  const condOf = (p: Policy, type: string) => p.status?.conditions?.find((c) => c.type === type);
  /**
   * GET through the stand-in of `identity` to httpbin2, on a new connection each time: a changed
   * policy changes the listener's filter chain, and Envoy lets the connections of the old one drain.
   */
  const get = (identity: string, path: string) =>
    httpGet(port[identity]!, "httpbin2:8000", path, { connection: "close" });

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    logDir = tempDir("e2e-kube-authz");
    console.log(`logs: ${logDir}`);
    // The mesh config ConfigMap is read again on this timer (the last test changes it).
    s = await startKubeStack({ logDir, watcherEnv: { WAYMARK_KUBE_SECRET_REFRESH_MS: "200" } });
    // The guide's apps and waypoint; only httpbin2 is enrolled in the waypoint, httpbin3 is not.
    await s.sh(guide.createNamespace);
    await s.sh(guide.deployHttpbin2);
    await s.sh(guide.deployHttpbin3);
    await kubectl(["label", "ns", NS, "istio.io/dataplane-mode=ambient"]);
    await s.sh(guide.createWaypoint);
    await waitFor(
      "the waypoint Deployment",
      () => kubectl(["-n", NS, "get", "deployment", WAYPOINT, "-o", "name"]).then(() => true),
      20_000,
      100,
    );
    await s.sh(`timeout 90 ${guide.rolloutStatus.trim()}`);
    await kubectl(["-n", NS, "label", "svc", "httpbin2", `istio.io/use-waypoint=${WAYPOINT}`]);

    const ip = await waitFor(
      "httpbin2 pod IP",
      async () =>
        (
          await kubectl([
            "-n",
            NS,
            "get",
            "pods",
            "-l",
            "app=httpbin2",
            "-o",
            "jsonpath={.items[0].status.podIP}",
          ])
        ).trim() || undefined,
      30_000,
      200,
    );
    extra.push(await startHttpbinAt({ name: "httpbin2", host: ip, port: 8080, logDir }));
    const { envoy } = await startWaypointEnvoy({ cluster: s.cluster, namespace: NS, name: WAYPOINT, logDir });
    extra.push(envoy);
    const vip = JSON.parse(await kubectl(["-n", NS, "get", "service", "httpbin2", "-o", "json"])).spec
      .clusterIP as string;
    for (const [name, identity] of [
      ["client", CLIENT],
      ["other", OTHER],
    ] as const) {
      port[identity] = await freePort();
      extra.push(
        startProcess({
          name: `ztunnel-standin-${name}`,
          command: process.execPath,
          args: [
            `${REPO_ROOT}/tools/ztunnel-standin/src/main.ts`,
            "--waypoint",
            `${s.bindAddress}:15088`,
            "--identity",
            identity,
            "--route",
            `127.0.0.1:${port[identity]}=${vip}:8000`,
          ],
          logDir,
        }),
      );
    }
  });

  after(async () => {
    for (const p of extra.reverse()) await p.stop().catch(() => {});
    await s?.stop();
  });

  test("the API server serves Istio's security CRDs, and rejects targetRefs with a selector", async () => {
    const resources = await kubectl(["api-resources", "--api-group", "security.istio.io", "-o", "name"]);
    for (const r of ["authorizationpolicies", "requestauthentications", "peerauthentications"])
      assert.ok(resources.split("\n").includes(`${r}.security.istio.io`), `${r} served: ${resources}`);
    await assert.rejects(
      apply({
        ...policies.unbound,
        metadata: { name: "both", namespace: NS },
        spec: { ...policies.unbound.spec, selector: { matchLabels: { app: "httpbin3" } } },
      }),
      /only one of targetRefs or selector can be set/,
    );
  });

  test("without a policy, every identity reaches httpbin2", async () => {
    for (const identity of [CLIENT, OTHER]) {
      const r = await waitFor(
        `${identity} through the waypoint`,
        async () => {
          const r = await get(identity, "/anything/denied").catch(() => undefined);
          return r?.status === 200 && r;
        },
        30_000,
        200,
      );
      // Answered by httpbin2 (the default route of the enrolled Service), not by anything else.
      assert.equal((JSON.parse(r.body) as { url: string }).url, "http://httpbin2:8000/anything/denied");
    }
  });

  test("kubectl apply: WaypointAccepted as istiod writes it, Translated, nothing on a selector policy", async () => {
    // One apply, in this order: when the last three have their status, the selector policy (first)
    // has been through the same translation or an earlier one.
    await apply(policies.selector, policies.deny, policies.allow, policies.unbound);
    const withStatus = (name: string) =>
      waitFor(
        `${name}: WaypointAccepted and Translated`,
        async () => {
          const p = await getPolicy(name);
          return OURS.every((t) => condOf(p, t)) && p;
        },
        30_000,
        200,
      );
    for (const name of ["deny-anything-denied", "allow-client"]) {
      const p = await withStatus(name);
      assert.deepEqual(
        { ...condOf(p, "WaypointAccepted"), lastTransitionTime: undefined },
        {
          type: "WaypointAccepted",
          status: "True",
          reason: "Accepted",
          message: `bound to ${NS}/${WAYPOINT}`,
          observedGeneration: p.metadata.generation,
          lastTransitionTime: undefined,
        },
        name,
      );
      assert.match(
        condOf(p, "WaypointAccepted")?.lastTransitionTime ?? "",
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
      );
      assert.deepEqual(
        [condOf(p, "waymark.dev/Translated")?.status, condOf(p, "waymark.dev/Translated")?.reason],
        ["True", "Translated"],
        name,
      );
    }
    const unbound = await withStatus("allow-unbound");
    const accepted = condOf(unbound, "WaypointAccepted");
    assert.deepEqual(
      [accepted?.status, accepted?.reason, accepted?.message],
      ["False", "AncestorNotBound", `Service ${NS}/httpbin3 is not bound to a waypoint`],
    );
    const selector = await getPolicy("selector-only");
    assert.deepEqual(
      (selector.status?.conditions ?? []).filter((c) => OURS.includes(c.type)),
      [],
      "a selector policy is ztunnel's: no condition from Waymark",
    );
  });

  test("enforced through Envoy: DENY on the Gateway (403), ALLOW on the Service (client only)", async () => {
    // Both policies reach Envoy (perhaps in separate updates): the denied path and the other
    // identity are refused.
    await waitFor(
      "the DENY and the ALLOW enforced",
      async () =>
        (await get(CLIENT, "/anything/denied").catch(() => undefined))?.status === 403 &&
        (await get(OTHER, "/anything/ok").catch(() => undefined))?.status === 403,
      30_000,
      200,
    );
    const denied = await get(CLIENT, "/anything/denied/x");
    assert.deepEqual([denied.status, denied.body], [403, "RBAC: access denied"]);
    const allowed = await get(CLIENT, "/anything/ok");
    assert.equal(allowed.status, 200);
    assert.equal((JSON.parse(allowed.body) as { url: string }).url, "http://httpbin2:8000/anything/ok");
    const other = await get(OTHER, "/anything/ok");
    assert.deepEqual([other.status, other.body], [403, "RBAC: access denied"]);
  });

  test("a policy changed to a selector loses Waymark's conditions", async () => {
    const patch = { spec: { targetRefs: null, selector: { matchLabels: { app: "httpbin3" } } } };
    await kubectl([
      "-n",
      NS,
      "patch",
      "authorizationpolicy",
      "allow-unbound",
      "--type",
      "merge",
      "-p",
      JSON.stringify(patch),
    ]);
    const p = await waitFor(
      "allow-unbound without Waymark's conditions",
      async () => {
        const p = await getPolicy("allow-unbound");
        return !OURS.some((t) => condOf(p, t)) && p;
      },
      30_000,
      200,
    );
    assert.deepEqual(p.status?.conditions ?? [], []);
  });

  test("deleting the policies lifts them", async () => {
    await kubectl(["-n", NS, "delete", "authorizationpolicy", "deny-anything-denied"]);
    await waitFor(
      "the denied path allowed again",
      async () => (await get(CLIENT, "/anything/denied").catch(() => undefined))?.status === 200,
      30_000,
      200,
    );
    assert.equal((await get(OTHER, "/anything/ok")).status, 403, "the ALLOW still holds");
    await kubectl(["-n", NS, "delete", "authorizationpolicy", "allow-client"]);
    await waitFor(
      "the other identity allowed again",
      async () => (await get(OTHER, "/anything/ok").catch(() => undefined))?.status === 200,
      30_000,
      200,
    );
    // The selector policy never applied to the waypoint (it would deny everything).
    assert.equal((await get(OTHER, "/anything/denied")).status, 200);
  });

  test("a RequestAuthentication on the Gateway: WaypointAccepted, 401 for a bad token, lifted when deleted", async () => {
    const issuer = await createIssuer("https://issuer.waymark.test");
    const stranger = await createIssuer("https://issuer.waymark.test"); // same iss, another key
    const auth = (token: string) =>
      httpGet(port[CLIENT]!, "httpbin2:8000", "/anything/jwt", {
        connection: "close",
        authorization: `Bearer ${token}`,
      });
    await apply({
      apiVersion: ISTIO,
      kind: "RequestAuthentication",
      metadata: { name: "jwt", namespace: NS },
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: WAYPOINT }],
        jwtRules: [{ issuer: issuer.issuer, jwks: JSON.stringify(issuer.jwks) }],
      },
    });
    const ra = await waitFor(
      "the RequestAuthentication's WaypointAccepted",
      async () => {
        const o = JSON.parse(
          await kubectl(["-n", NS, "get", "requestauthentication", "jwt", "-o", "json"]),
        ) as Policy;
        return condOf(o, "WaypointAccepted") && o;
      },
      30_000,
      200,
    );
    const accepted = condOf(ra, "WaypointAccepted");
    assert.deepEqual(
      [accepted?.status, accepted?.reason, accepted?.message, accepted?.observedGeneration],
      ["True", "Accepted", `bound to ${NS}/${WAYPOINT}`, ra.metadata.generation],
    );
    const bad = await stranger.sign();
    await waitFor(
      "a token of another key refused",
      async () => (await auth(bad).catch(() => undefined))?.status === 401,
      30_000,
      200,
    );
    assert.equal((await auth(await issuer.sign({}, { expired: true }))).status, 401, "an expired token");
    assert.equal((await auth(await issuer.sign())).status, 200, "a valid token");
    assert.equal((await get(CLIENT, "/anything/jwt")).status, 200, "no token: authorization decides");
    await kubectl(["-n", NS, "delete", "requestauthentication", "jwt"]);
    await waitFor(
      "the bad token passes once the RequestAuthentication is gone",
      async () => (await auth(bad).catch(() => undefined))?.status === 200,
      30_000,
      200,
    );
  });

  test("CUSTOM: the provider comes from the ConfigMap istio-system/istio (kubectl apply, edit, delete)", async () => {
    const translated = (message: RegExp) =>
      waitFor(
        `custom-mesh's Translated matching ${message}`,
        async () => {
          const c = condOf(await getPolicy("custom-mesh"), "waymark.dev/Translated");
          return c && message.test(c.message) ? c : undefined;
        },
        30_000,
        200,
      );
    const meshConfigMap = (mesh: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "istio", namespace: "istio-system" },
      data: { mesh },
    });
    await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "istio-system" } });
    await apply({
      apiVersion: ISTIO,
      kind: "AuthorizationPolicy",
      metadata: { name: "custom-mesh", namespace: NS },
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: WAYPOINT }],
        action: "CUSTOM",
        provider: { name: "ext-authz-k8s" },
        rules: [{ to: [{ operation: { paths: ["/anything/custom*"] } }] }],
      },
    });
    // No ConfigMap and no WAYMARK_MESH_CONFIG: no provider.
    await translated(
      /"ext-authz-k8s" is not an ext_authz provider .*WAYMARK_MESH_CONFIG extensionProviders: none/,
    );
    // The ConfigMap names the provider; its Service does not exist, so the policy still fails closed.
    await apply(
      meshConfigMap(
        "extensionProviders:\n- name: ext-authz-k8s\n  envoyExtAuthzGrpc: {service: ext-authz.httpbin.svc.cluster.local, port: 9000}\n",
      ),
    );
    const known = await translated(
      /extension provider "ext-authz-k8s": Service httpbin\/ext-authz was not found/,
    );
    assert.equal(known.reason, "PartiallyTranslated");
    await waitFor(
      "the CUSTOM rule denies what it matches",
      async () => (await get(CLIENT, "/anything/custom").catch(() => undefined))?.status === 403,
      30_000,
      200,
    );
    assert.equal((await get(CLIENT, "/anything/ok")).status, 200, "what the rule does not match passes");
    // Edited so it does not parse: the status names the ConfigMap and the path of the error.
    await apply(
      meshConfigMap("extensionProviders:\n- name: ext-authz-k8s\n  envoyExtAuthzGrpc: {port: 9000}\n"),
    );
    await translated(
      /mesh config ConfigMap istio-system\/istio \(key mesh\): extensionProviders\[0\]\.envoyExtAuthzGrpc\.service: is required/,
    );
    assert.equal((await get(CLIENT, "/anything/custom")).status, 403, "fails closed");
    // Deleted: back to the (empty) setting.
    await kubectl(["-n", "istio-system", "delete", "configmap", "istio"]);
    await translated(/WAYMARK_MESH_CONFIG extensionProviders: none/);
    await kubectl(["-n", NS, "delete", "authorizationpolicy", "custom-mesh"]);
  });
});
