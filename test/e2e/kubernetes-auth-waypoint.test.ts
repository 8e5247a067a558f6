// Authentication on, end to end with the waypoint Waymark generates, on a real API server: the
// watcher, translator and xds-server run as processes (the xds-server with WAYMARK_XDS_AUTH=kubernetes,
// its default audience, no Kubernetes credentials), the guide's waypoint Gateway is applied, and real
// Envoys boot from the generated bootstrap ConfigMap with a token minted for exactly what the
// generated Deployment projects (its ServiceAccount, audience and lifetime, through the TokenRequest
// API), laid out at a directory mirroring the projected-token mount (only that directory prefix of
// the bootstrap is rewritten). That Envoy is served; one whose token is for another audience is not.
// Then a token that expires within the test: the TokenRequest API's shortest lifetime is 10 minutes,
// so the test signs one with a key of its own that the API server also trusts (listed in its
// --service-account-key-file, so published in its JWKS; a TokenReview authenticates the token). The
// stream ends when the token expires (UNAUTHENTICATED, counted), the Envoy's retry with that token is
// refused, and after the token file rotates as the kubelet rotates it the Envoy is served again: a
// change made after the rotation reaches it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, ISSUER_KEY, type IssuerKeys } from "@waymark/api";
import { connectBus, getJson, type NatsConnection, openBucket } from "@waymark/bus";
import {
  type EnvoyProc,
  freePort,
  makeServiceAccountKey,
  podNetworkProblem,
  type ServiceAccountKey,
  signServiceAccountToken,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";
import * as guide from "../lib/kube-guide.ts";
import {
  type KubeStack,
  kubeSkip,
  mintProjectedToken,
  type ProjectedToken,
  startKubeStack,
  startWaypointEnvoy,
} from "../lib/kube-stack.ts";

const NS = "httpbin";
const WAYPOINT = "kgateway-waypoint";

describe("kubernetes: the generated waypoint with authentication on", {
  timeout: 300_000,
  skip: kubeSkip,
}, () => {
  let s: KubeStack;
  let logDir: string;
  let nc: NatsConnection;
  let metricsUrl: string;
  let shortKey: ServiceAccountKey;
  const envoys: EnvoyProc[] = [];

  const metric = async (name: string, label = ""): Promise<number> => {
    const text = await (await fetch(metricsUrl)).text();
    const line = text
      .split("\n")
      .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  };
  const listeners = async (e: EnvoyProc) =>
    (
      (
        JSON.parse(await e.admin("/config_dump?resource=dynamic_listeners")) as {
          configs?: Array<{ name: string }>;
        }
      ).configs ?? []
    ).map((c) => c.name);
  /** Envoy applied a response of the xds-server (the waypoint has no Service yet: no listener). */
  const served = async (e: EnvoyProc) =>
    ((await e.stats("cluster_manager.cds.update_success")).get("cluster_manager.cds.update_success") ?? 0) >
    0;
  const waitServed = (e: EnvoyProc, what: string) => waitFor(what, () => served(e), 30_000, 100);
  const clusters = async (e: EnvoyProc) =>
    (
      (
        JSON.parse(await e.admin("/config_dump?resource=dynamic_active_clusters")) as {
          configs?: Array<{ cluster: { name: string } }>;
        }
      ).configs ?? []
    ).map((c) => c.cluster.name);
  /** What Envoy logged of its xDS streams' ends (grpc-message is percent-encoded). */
  const streamEnds = (e: EnvoyProc) =>
    (e.proc.log().match(/config stream to xds_cluster closed: .*/g) ?? []).map((l) => decodeURIComponent(l));
  const envoy = async (name: string, token?: (p: ProjectedToken) => Promise<string>) => {
    const w = await startWaypointEnvoy({
      cluster: s.cluster,
      namespace: NS,
      name: WAYPOINT,
      logDir,
      envoyName: name,
      ...(token ? { token } : {}),
    });
    envoys.push(w.envoy);
    return w;
  };

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    logDir = tempDir("e2e-kube-auth-waypoint");
    console.log(`logs: ${logDir}`);
    shortKey = makeServiceAccountKey(join(logDir, "keys"), "short-lived");
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    s = await startKubeStack({
      logDir,
      // The API server trusts the test's key besides its own (and publishes both in its JWKS).
      apiserverArgs: ["--service-account-key-file", shortKey.publicKeyFile],
      // The default audience: not set, so the test holds only if the Deployment projects it.
      xdsEnv: {
        WAYMARK_XDS_AUTH: "kubernetes",
        WAYMARK_XDS_TOKEN_SKEW_S: "0",
        WAYMARK_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      },
    });
    nc = await connectBus({ servers: s.nats.url, name: "e2e-kube-auth", log: createLogger("e2e") });
    const issuer = await openBucket(nc, Bucket.issuer);
    await waitFor(
      "the watcher publishes the API server's keys (its own and the test's)",
      async () => {
        const kids = (await getJson<IssuerKeys>(issuer, ISSUER_KEY))?.jwks.keys.map((k) => k.kid) ?? [];
        return kids.includes(shortKey.kid) && kids.includes(s.cluster.serviceAccountKey.kid);
      },
      30_000,
      100,
    );
    await s.sh(guide.createNamespace);
    await s.sh(guide.createWaypoint);
    await waitFor(
      "the waypoint's Deployment and bootstrap ConfigMap",
      () =>
        Promise.all([
          s.cluster.kubectl(["-n", NS, "get", "deployment", WAYPOINT]),
          s.cluster.kubectl(["-n", NS, "get", "configmap", WAYPOINT]),
        ]).then(() => true),
      30_000,
      100,
    );
  });

  after(async () => {
    for (const e of envoys.reverse()) await e.stop().catch(() => {});
    await nc?.close();
    await s?.stop();
  });

  test("an Envoy with the token the generated Deployment projects is served", async () => {
    const { envoy: e, projected } = await envoy("envoy-projected");
    assert.deepEqual(
      { serviceAccount: projected.serviceAccount, audience: projected.audience },
      { serviceAccount: WAYPOINT, audience: XDS_TOKEN_AUDIENCE },
    );
    await waitServed(e, "the Envoy applies the xds-server's responses");
    assert.deepEqual(streamEnds(e), [], "no stream refused");
  });

  test("an Envoy whose token is for another audience is refused", async () => {
    const before = await metric("waymark_xds_auth_rejections_total", 'reason="wrong-audience"');
    const { envoy: e } = await envoy("envoy-other-audience", (p) =>
      mintProjectedToken(s.cluster, p, "https://kubernetes.default.svc"),
    );
    await waitFor("the refusal", () => streamEnds(e).length > 0, 30_000, 100);
    assert.match(streamEnds(e)[0]!, /closed: 16, .*audience .* does not include "waymark"/);
    assert.ok((await metric("waymark_xds_auth_rejections_total", 'reason="wrong-audience"')) > before);
    assert.deepEqual(await listeners(e), [], "refused: no listener");
    assert.equal(await served(e), false, "refused: no response applied");
    assert.equal(
      (await e.stats("listener_manager.lds.update_success")).get("listener_manager.lds.update_success") ?? 0,
      0,
    );
    await e.stop();
  });

  test("the stream ends when its token expires; the Envoy is served again once its token rotates", async () => {
    const uid = await s.cluster.kubectl([
      "-n",
      NS,
      "get",
      "serviceaccount",
      WAYPOINT,
      "-o",
      "jsonpath={.metadata.uid}",
    ]);
    let short = "";
    const expiries = await metric("waymark_xds_streams_token_expired_total");
    const expiredBefore = await metric("waymark_xds_auth_rejections_total", 'reason="expired"');
    const {
      envoy: e,
      projected,
      rotate,
    } = await envoy("envoy-short-lived", async (p) => {
      short = signServiceAccountToken(shortKey, {
        audience: p.audience,
        namespace: NS,
        serviceAccount: p.serviceAccount,
        uid,
        seconds: 40,
      });
      return short;
    });
    // The API server itself authenticates the short-lived token.
    const review = JSON.parse(
      await s.cluster.kubectl(["create", "-o", "json", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: { token: short, audiences: [projected.audience] },
        }),
      }),
    ) as { status: { authenticated?: boolean; user?: { username: string } } };
    assert.equal(review.status.authenticated, true, JSON.stringify(review.status));
    assert.equal(review.status.user?.username, `system:serviceaccount:${NS}:${WAYPOINT}`);

    await waitServed(e, "served on the short-lived token");
    assert.deepEqual(streamEnds(e), [], "served, not refused, before the token expires");
    const exp = JSON.parse(Buffer.from(short.split(".")[1]!, "base64url").toString()).exp as number;

    // The stream end event: the xds-server ends the stream when the token expires, counts it, and
    // Envoy logs why (Envoy logs every UNAUTHENTICATED close at warn).
    await waitFor(
      "the stream's end at the token's expiry",
      async () => (await metric("waymark_xds_streams_token_expired_total")) > expiries,
      90_000,
      100,
    );
    assert.ok(Date.now() >= exp * 1000, "not before the token's exp");
    assert.equal(await metric("waymark_xds_streams_token_expired_total"), expiries + 1);
    await waitFor("Envoy's log of the end", () => streamEnds(e).length > 0, 10_000, 50);
    assert.match(streamEnds(e)[0]!, /closed: 16, .*the stream's token expired at/);
    // Envoy retries with the token it holds: refused, and nothing more is sent to it.
    await waitFor(
      "a retry with the expired token refused",
      async () => (await metric("waymark_xds_auth_rejections_total", 'reason="expired"')) > expiredBefore,
      60_000,
      100,
    );
    await waitFor("Envoy's log of the refusal", () => streamEnds(e).length > 1, 10_000, 50);
    assert.match(streamEnds(e)[1]!, /closed: 16, .*the token expired at/);

    // The kubelet rotates the token: Envoy's next stream carries the new one and is served. A change
    // made now reaches this Envoy only through such a stream.
    rotate(await mintProjectedToken(s.cluster, projected));
    await s.cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "after-rotation", namespace: NS, labels: { "istio.io/use-waypoint": WAYPOINT } },
        spec: {
          ports: [{ name: "http", port: 8000, targetPort: 8080 }],
          selector: { app: "after-rotation" },
        },
      }),
    });
    await waitFor(
      "the change after the rotation reaches the Envoy",
      async () => (await clusters(e)).some((c) => c.includes("after-rotation")),
      90_000,
      200,
    );
  });
});
