// The issuer keys follow the API server's service-account keys, on a real API server whose keys
// change: kube-apiserver is restarted (etcd kept) signing with a new key while still accepting the
// old one, then accepting only the new one. The watcher (one process throughout, authenticated by a
// client certificate naming the `waymark-watcher` ServiceAccount, so its own credentials survive the
// change, with deploy/rbac.yaml's rules) republishes the JWKS each time, as soon as the restarted
// server answers; the xds-server (auth on, no Kubernetes credentials) then serves tokens the new key
// signed, still serves the old key's tokens while the API server lists that key, and refuses them once
// it does not.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, ISSUER_KEY, type IssuerKeys } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import {
  type KubeCluster,
  makeServiceAccountKey,
  type NatsServer,
  type Proc,
  type ServiceAccountKey,
  startKubeCluster,
  startNats,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { AdsClient, deltaResources } from "@waymark/testing/ads-client";
import { basic, publish } from "@waymark/testing/xds-fixtures";
import { waypointNodeCluster, XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";
import { startXdsServer, type XdsServer } from "@waymark/xds-server";
import { DEPLOY, kubeSkip, REPO_ROOT } from "../lib/kube-stack.ts";

const log = createLogger("e2e-kube-auth-keys", {}, () => {});
const WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };
const GRPC_UNAUTHENTICATED = 16;

describe("kubernetes: issuer keys after the API server's signing key changes", {
  skip: kubeSkip,
  timeout: 300_000,
}, () => {
  const logDir = tempDir("e2e-kube-auth-keys");
  const stops: Array<() => Promise<unknown>> = [];
  let cluster: KubeCluster;
  let nats: NatsServer;
  let nc: NatsConnection;
  let issuerKv: KV;
  let watcher: Proc;
  let server: XdsServer;
  let client: AdsClient;
  let oldKey: ServiceAccountKey;
  let newKey: ServiceAccountKey;
  /** Tokens of the key the API server signed with before its restart. */
  let oldToken: string;

  const mint = async () =>
    (
      await cluster.kubectl([
        ...["-n", WAYPOINT.namespace, "create", "token", WAYPOINT.name],
        ...["--audience", XDS_TOKEN_AUDIENCE, "--duration", "1h"],
      ])
    ).trim();
  const kidOf = (token: string) =>
    JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid as string;
  const published = async () =>
    ((await getJson<IssuerKeys>(issuerKv, ISSUER_KEY))?.jwks.keys.map((k) => k.kid ?? "") ?? []).sort();
  /** The watcher's log lines since `from` characters. */
  const watcherSaid = (from: number) => watcher.log().slice(from);

  /** Opens a delta stream for the waypoint: served (the clusters), or the refusal's status. */
  async function ask(token: string) {
    const s = client.delta({ token });
    s.send({
      typeUrl: TypeUrl.cluster,
      node: { id: "proxy.httpbin", cluster: waypointNodeCluster(WAYPOINT) },
    });
    // A refused stream ends the response queue (next() rejects) and then reports its status.
    const outcome = await s.next(10_000, "clusters").then(
      (r) => ({ served: [...deltaResources(r).keys()] }),
      async () => ({ refused: await s.status }),
    );
    s.close();
    return outcome;
  }
  const served = async (token: string, what: string) =>
    assert.deepEqual(await ask(token), { served: ["backend"] }, what);

  before(async () => {
    cluster = await startKubeCluster({
      logDir,
      workloads: false,
      manifests: [join(DEPLOY, "namespace.yaml"), join(DEPLOY, "crds"), join(DEPLOY, "rbac.yaml")],
    });
    stops.push(() => cluster.stop());
    oldKey = cluster.serviceAccountKey;
    await cluster.kubectl(["create", "namespace", WAYPOINT.namespace]);
    await cluster.kubectl(["-n", WAYPOINT.namespace, "create", "serviceaccount", WAYPOINT.name]);

    nats = await startNats({ logDir });
    stops.unshift(() => nats.stop());
    nc = await connectBus({ servers: nats.url, name: "e2e", log });
    stops.unshift(() => nc.close());
    const kubeconfig = await cluster.certificateKubeconfig(
      "system:serviceaccount:waymark-system:waymark-watcher",
      ["system:serviceaccounts", "system:serviceaccounts:waymark-system"],
    );
    watcher = startProcess({
      name: "watcher",
      command: process.execPath,
      args: [join(REPO_ROOT, "services", "watcher", "src", "main.ts")],
      env: {
        WAYMARK_NATS_URL: nats.url,
        WAYMARK_SOURCE: `kube:${kubeconfig}`,
        WAYMARK_LEASE_DURATION_MS: "3000",
      },
      logDir,
    });
    stops.unshift(() => watcher.stop());
    await publish(await openBucket(nc, Bucket.xds, log), WAYPOINT, basic());
    issuerKv = await openBucket(nc, Bucket.issuer, log);
    server = await startXdsServer(
      {
        natsUrl: nats.url,
        address: "127.0.0.1:0",
        replica: "keys-0",
        auth: "kubernetes",
        tokenSkewSeconds: 30,
      },
      log,
    );
    stops.unshift(() => server.stop());
    client = new AdsClient(`127.0.0.1:${server.port}`);
    stops.unshift(async () => client.close());
    console.log(`logs: ${logDir}`);
  });

  after(async () => {
    for (const s of stops) await s().catch(() => {});
  });

  test("the API server's key is published; its tokens are served", async () => {
    await waitFor(
      "the watcher publishes the key",
      async () => {
        if (watcher.child.exitCode !== null)
          throw new Error(`watcher exited:\n${watcher.log().slice(-3000)}`);
        return (await published()).join() === oldKey.kid;
      },
      30_000,
      100,
    );
    oldToken = await mint();
    assert.equal(kidOf(oldToken), oldKey.kid);
    await served(oldToken, "a token of the published key");
  });

  test("signing with a new key, the old one still listed: both published, both keys' tokens served", async () => {
    newKey = makeServiceAccountKey(join(logDir, "keys"), "sa-2");
    const mark = watcher.log().length;
    await cluster.restartWithServiceAccountKeys(newKey, [oldKey, newKey]);
    await waitFor(
      "the watcher republishes the keys",
      async () => (await published()).join() === [oldKey.kid, newKey.kid].sort().join(),
      90_000,
      100,
    );
    assert.equal(watcher.child.exitCode, null, "the same watcher process");
    assert.match(watcherSaid(mark), /reading the issuer keys again.*the API server answers again/);
    const fresh = await mint();
    assert.equal(kidOf(fresh), newKey.kid, "the API server signs with the new key");
    await served(fresh, "a token of the new key");
    await served(oldToken, "a token of the old key, still listed");
  });

  test("the old key no longer listed: published without it; its tokens refused, the new key's served", async () => {
    const mark = watcher.log().length;
    await cluster.restartWithServiceAccountKeys(newKey, [newKey]);
    await waitFor(
      "the watcher republishes the keys",
      async () => (await published()).join() === newKey.kid,
      90_000,
      100,
    );
    assert.match(watcherSaid(mark), /reading the issuer keys again.*the API server answers again/);
    const refused = await ask(oldToken);
    assert.ok("refused" in refused, JSON.stringify(refused));
    assert.equal(refused.refused.code, GRPC_UNAUTHENTICATED, refused.refused.details);
    assert.match(refused.refused.details, new RegExp(`key "${oldKey.kid}" is not the issuer's`));
    await served(await mint(), "a token of the new key");
  });
});
