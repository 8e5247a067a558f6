// Proxy authentication against a real API server: the watcher (as the `waymark-watcher` ServiceAccount,
// with exactly deploy/rbac.yaml's rules: the default issuer-discovery binding is removed first) publishes
// the service-account issuer and its keys into NATS; an xds-server with WAYMARK_XDS_AUTH=kubernetes and
// no Kubernetes credentials verifies the tokens proxies present. Tokens come from the TokenRequest API
// (`kubectl create token`). A proxy with its own waypoint's identity is served; another namespace's
// identity, another service account, a wrong audience, a forged token, an expired token and no token
// get nothing. Then the same with real Envoys presenting a token file through the bootstrap's
// credential injector.
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, ISSUER_KEY, type IssuerKeys } from "@waymark/api";
import { connectBus, getJson, type NatsConnection, openBucket } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import {
  type EnvoyProc,
  freePort,
  type KubeCluster,
  type NatsServer,
  type Proc,
  startEnvoy,
  startKubeCluster,
  startNats,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { AdsClient, deltaResources, type StreamInit } from "@waymark/testing/ads-client";
import { basic, publish } from "@waymark/testing/xds-fixtures";
import { renderBootstrap, renderTokenSds, waypointNodeCluster } from "@waymark/waypoint";
import { startXdsServer, XdsMetrics, type XdsServer } from "@waymark/xds-server";
import { DEPLOY, kubeSkip, REPO_ROOT } from "../lib/kube-stack.ts";

const log = createLogger("e2e-proxy-auth", {}, () => {});
const WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };
const OTHER = { namespace: "other", name: "kgateway-waypoint" };
const AUDIENCE = "waymark";
const ISSUER = "https://kubernetes.default.svc";
const GRPC_UNAUTHENTICATED = 16;
const GRPC_PERMISSION_DENIED = 7;

describe("proxy authentication with tokens from a real API server", {
  skip: kubeSkip,
  timeout: 150_000,
}, () => {
  const logDir = tempDir("e2e-proxy-auth");
  const stops: Array<() => Promise<unknown>> = [];
  let cluster: KubeCluster;
  let nats: NatsServer;
  let nc: NatsConnection;
  let watcher: Proc;
  let server: XdsServer;
  let client: AdsClient;
  let listenPort: number;
  const metrics = new XdsMetrics();
  /** Added to the xds-server's clock when it checks tokens. */
  let clockOffsetMs = 0;

  const token = (ns: string, sa: string, o: { audience?: string; duration?: string } = {}) =>
    cluster
      .kubectl([
        ...["-n", ns, "create", "token", sa],
        ...["--audience", o.audience ?? AUDIENCE, "--duration", o.duration ?? "1h"],
      ])
      .then((s) => s.trim());

  /** Opens a delta stream for the waypoint and asks for clusters; the first response, or the stream's end. */
  async function ask(init: StreamInit, waypoint = WAYPOINT) {
    const s = client.delta(init);
    s.send({
      typeUrl: TypeUrl.cluster,
      node: { id: `proxy.${waypoint.namespace}`, cluster: waypointNodeCluster(waypoint) },
    });
    const outcome = await Promise.race([
      s.next(5_000, "clusters").then((r) => ({ served: [...deltaResources(r).keys()] })),
      s.status.then((st) => ({ status: st })),
    ]).catch((err: Error) => ({ error: err.message }));
    const status = await Promise.race([
      s.status,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 200)),
    ]);
    s.close();
    return { ...outcome, status: "status" in outcome ? outcome.status : status, received: s.received.length };
  }

  function refused(o: Awaited<ReturnType<typeof ask>>, code: number, pattern: RegExp): void {
    assert.equal(o.received, 0, `nothing is sent: ${JSON.stringify(o)}`);
    assert.ok(o.status, `the stream ends: ${JSON.stringify(o)}`);
    assert.equal(o.status.code, code, o.status.details);
    assert.match(o.status.details, pattern);
  }

  const rejections = async () =>
    Object.fromEntries(
      (await metrics.authRejections.get()).values.map((v) => [String(v.labels["reason"]), v.value]),
    );

  before(async () => {
    cluster = await startKubeCluster({
      logDir,
      workloads: false,
      manifests: [join(DEPLOY, "namespace.yaml"), join(DEPLOY, "crds"), join(DEPLOY, "rbac.yaml")],
    });
    stops.push(() => cluster.stop());
    // Only deploy/rbac.yaml's rules let the watcher read the issuer's keys: the default binding that
    // lets every service account read them goes (it comes back when the API server restarts).
    await cluster.kubectl(["delete", "clusterrolebinding", "system:service-account-issuer-discovery"]);
    for (const ns of [WAYPOINT.namespace, OTHER.namespace]) {
      await cluster.kubectl(["create", "namespace", ns]);
      await cluster.kubectl(["-n", ns, "create", "serviceaccount", "kgateway-waypoint"]);
    }
    await cluster.kubectl(["-n", WAYPOINT.namespace, "create", "serviceaccount", "client"]);

    nats = await startNats({ logDir });
    stops.unshift(() => nats.stop());
    nc = await connectBus({ servers: nats.url, name: "e2e", log });
    stops.unshift(() => nc.close());
    const watcherKubeconfig = await cluster.serviceAccountKubeconfig("waymark-system", "waymark-watcher");
    watcher = startProcess({
      name: "watcher",
      command: process.execPath,
      args: [join(REPO_ROOT, "services", "watcher", "src", "main.ts")],
      env: {
        WAYMARK_NATS_URL: nats.url,
        WAYMARK_SOURCE: `kube:${watcherKubeconfig}`,
        WAYMARK_LEASE_DURATION_MS: "3000",
      },
      logDir,
    });
    stops.unshift(() => watcher.stop());

    listenPort = await freePort();
    const xdsKv = await openBucket(nc, Bucket.xds, log);
    await publish(xdsKv, WAYPOINT, basic({ port: listenPort }));
    await publish(xdsKv, OTHER, basic({ port: await freePort() }));
    const issuerKv = await openBucket(nc, Bucket.issuer, log);
    await waitFor(
      "the watcher publishes the issuer's keys",
      async () => {
        if (watcher.child.exitCode !== null)
          throw new Error(`watcher exited:\n${watcher.log().slice(-3000)}`);
        return (await getJson<IssuerKeys>(issuerKv, ISSUER_KEY)) !== undefined;
      },
      30_000,
      100,
    );
    server = await startXdsServer(
      {
        natsUrl: nats.url,
        address: "127.0.0.1:0",
        replica: "auth-0",
        auth: "kubernetes",
        tokenAudience: AUDIENCE,
        tokenIssuer: undefined,
        tokenSkewSeconds: 30,
      },
      log,
      { metrics, clock: () => Date.now() + clockOffsetMs },
    );
    stops.unshift(() => server.stop());
    client = new AdsClient(`127.0.0.1:${server.port}`);
    stops.unshift(async () => client.close());
    console.log(`logs: ${logDir}; cluster ${JSON.stringify(cluster.timings)}`);
  });

  after(async () => {
    for (const s of stops) await s().catch(() => {});
  });

  test("the watcher publishes the API server's issuer and public keys, with deploy/rbac.yaml's rules", async () => {
    const can = (url: string) =>
      cluster
        .kubectl([
          "auth",
          "can-i",
          "get",
          url,
          "--as",
          "system:serviceaccount:waymark-system:waymark-watcher",
        ])
        .then(
          (s) => s.trim(),
          () => "no",
        );
    assert.equal(await can("/openid/v1/jwks"), "yes");
    assert.equal(await can("/.well-known/openid-configuration"), "yes");
    assert.equal(
      await cluster
        .kubectl(["auth", "can-i", "get", "/openid/v1/jwks", "--as", "system:serviceaccount:httpbin:client"])
        .then(
          (s) => s.trim(),
          () => "no",
        ),
      "no",
      "the default binding is gone",
    );
    const entry = (await getJson<IssuerKeys>(await openBucket(nc, Bucket.issuer, log), ISSUER_KEY))!;
    assert.equal(entry.issuer, ISSUER);
    assert.equal(entry.source, cluster.server);
    const kid = JSON.parse(
      Buffer.from((await token("httpbin", "client")).split(".")[0]!, "base64url").toString(),
    )["kid"];
    assert.deepEqual(
      entry.jwks.keys.map((k) => k.kid),
      [kid],
    );
    assert.ok(
      entry.jwks.keys.every((k) => !("d" in k)),
      "public keys only",
    );
  });

  test("a proxy with its own waypoint's identity is served", async () => {
    const o = await ask({ token: await token("httpbin", "kgateway-waypoint") });
    assert.deepEqual("served" in o ? o.served : o, ["backend"]);
    const other = await ask({ token: await token("other", "kgateway-waypoint") }, OTHER);
    assert.deepEqual("served" in other ? other.served : other, ["backend"]);
  });

  test("another namespace's identity, or another service account, gets nothing", async () => {
    refused(
      await ask({ token: await token("other", "kgateway-waypoint") }),
      GRPC_PERMISSION_DENIED,
      /service account other\/kgateway-waypoint may only fetch waypoint other\/kgateway-waypoint, not httpbin\/kgateway-waypoint/,
    );
    refused(await ask({ token: await token("httpbin", "client") }), GRPC_PERMISSION_DENIED, /may only fetch/);
  });

  test("a token for another audience gets nothing", async () => {
    refused(
      await ask({ token: await token("httpbin", "kgateway-waypoint", { audience: ISSUER }) }),
      GRPC_UNAUTHENTICATED,
      /audience .* does not include "waymark"/,
    );
  });

  test("a forged token gets nothing: the same claims signed by a key of ours", async () => {
    const real = await token("httpbin", "kgateway-waypoint");
    const [h, p] = real.split(".") as [string, string];
    const ours = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forge = (header: string) => {
      const input = `${header}.${p}`;
      return `${input}.${sign("sha256", Buffer.from(input), ours.privateKey).toString("base64url")}`;
    };
    // The issuer's kid, our signature.
    refused(await ask({ token: forge(h) }), GRPC_UNAUTHENTICATED, /signature does not verify/);
    // Our own kid.
    const ownKid = Buffer.from(JSON.stringify({ alg: "RS256", kid: "forged" })).toString("base64url");
    refused(await ask({ token: forge(ownKid) }), GRPC_UNAUTHENTICATED, /key "forged" is not the issuer's/);
    // No signature at all.
    const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    refused(await ask({ token: `${none}.${p}.` }), GRPC_UNAUTHENTICATED, /not a signed JWT/);
  });

  test("an expired token gets nothing", async () => {
    // The TokenRequest API's shortest lifetime is 10 minutes: the xds-server's clock moves past it.
    const t = await token("httpbin", "kgateway-waypoint", { duration: "10m" });
    assert.deepEqual((await ask({ token: t })).received, 1, "valid now");
    clockOffsetMs = 11 * 60_000;
    try {
      refused(await ask({ token: t }), GRPC_UNAUTHENTICATED, /token expired at/);
    } finally {
      clockOffsetMs = 0;
    }
  });

  test("no token, or not a bearer token, gets nothing; each refusal is counted by reason", async () => {
    refused(await ask({}), GRPC_UNAUTHENTICATED, /no bearer token/);
    refused(
      await ask({ metadata: { authorization: "Basic eDp5" } }),
      GRPC_UNAUTHENTICATED,
      /not `Bearer <token>`/,
    );
    const r = await rejections();
    for (const reason of [
      "forbidden",
      "wrong-audience",
      "bad-signature",
      "unknown-key",
      "malformed",
      "expired",
    ])
      assert.ok((r[reason] ?? 0) >= 1, `${reason} counted: ${JSON.stringify(r)}`);
    assert.equal(r["forbidden"], 2);
  });

  test("real Envoys with a token file: served when the token is theirs, refused when not", async () => {
    const envoy = async (name: string, tokenValue: string): Promise<{ e: EnvoyProc; dir: string }> => {
      const dir = join(logDir, `${name}-tokens`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "token"), tokenValue);
      const sdsFile = join(dir, "sds.json");
      writeFileSync(sdsFile, JSON.stringify(renderTokenSds(join(dir, "token"))));
      const e = await startEnvoy({
        name,
        bootstrap: renderBootstrap({
          waypoint: WAYPOINT,
          podName: name,
          xds: [{ host: "127.0.0.1", port: server.port }],
          xdsToken: { file: join(dir, "token"), sdsFile },
        }),
        logDir,
      });
      stops.unshift(() => e.stop());
      return { e, dir };
    };
    const listeners = async (e: EnvoyProc) =>
      (
        (
          JSON.parse(await e.admin("/config_dump?resource=dynamic_listeners")) as {
            configs?: Array<{ name: string }>;
          }
        ).configs ?? []
      ).map((c) => c.name);
    const before = (await rejections())["forbidden"] ?? 0;

    const good = await envoy("envoy-own-identity", await token("httpbin", "kgateway-waypoint"));
    await waitFor(
      "the Envoy with its own identity holds the listener",
      async () => (await listeners(good.e)).join() === "main",
      20_000,
      100,
    );

    const bad = await envoy("envoy-other-identity", await token("other", "kgateway-waypoint"));
    await waitFor(
      "the Envoy with another namespace's identity is refused",
      async () => ((await rejections())["forbidden"] ?? 0) > before,
      20_000,
      100,
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await listeners(bad.e), [], "refused: no listener");
    // Envoy logs the status (grpc-message is percent-encoded): PERMISSION_DENIED and why.
    assert.match(
      decodeURIComponent(bad.e.proc.log().match(/config stream to xds_cluster closed: .*/)?.[0] ?? ""),
      /closed: 7, .*may only fetch waypoint other\/kgateway-waypoint, not httpbin\/kgateway-waypoint/,
    );
    // It keeps retrying (each new stream counts as connected until the server refuses it, so
    // control_plane.connected_state flickers), but it never applied a single update.
    const updates = await bad.e.stats("update_success");
    const served = await good.e.stats("update_success");
    for (const name of ["cluster_manager.cds.update_success", "listener_manager.lds.update_success"]) {
      assert.ok((served.get(name) ?? 0) > 0, `${name} counts on the served Envoy`);
      assert.equal(updates.get(name) ?? 0, 0, `${name} on a refused Envoy`);
    }

    // A forged token (the real claims, our signature) is refused as well: UNAUTHENTICATED.
    const [h, p] = (await token("httpbin", "kgateway-waypoint")).split(".") as [string, string];
    const ours = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const forged = `${h}.${p}.${sign("sha256", Buffer.from(`${h}.${p}`), ours.privateKey).toString("base64url")}`;
    const third = await envoy("envoy-forged", forged);
    await waitFor(
      "the Envoy with a forged token is refused",
      async () => /closed: 16, /.test(third.e.proc.log()),
      20_000,
      100,
    );
    assert.deepEqual(await listeners(third.e), [], "refused: no listener");
    assert.deepEqual(await listeners(good.e), ["main"], "the first Envoy is still served");
  });
});
