// A served ADS stream ends when its proxy token expires, against real NATS and real gRPC streams: the
// issuer keys are put into wm-issuer as the watcher would, and tokens are signed here with the
// Kubernetes claims. The stream is served, then ends UNAUTHENTICATED saying the token expired, and is
// counted; the same token on a new stream is refused (the stream's deadline is the instant the
// authenticator starts refusing the token, so a proxy is never served again on it); a fresh token is
// served. On the authenticator's clock moved past the deadline, the stream's next request ends it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, createLogger, ISSUER_KEY, type IssuerKeys } from "@waymark/api";
import { connectBus, type NatsConnection, openBucket, putJson } from "@waymark/bus";
import { createIssuer, type NatsServer, startNats, type TestIssuer, waitFor } from "@waymark/testing";
import { AdsClient } from "@waymark/testing/ads-client";
import { basic, CDS, LDS, publish } from "@waymark/testing/xds-fixtures";
import { XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";
import { startXdsServer, XdsMetrics, type XdsServer } from "../src/index.ts";

const ISSUER = "https://kubernetes.default.svc";
const WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };
const NODE = { id: "wp-0.httpbin", cluster: "kgateway-waypoint.httpbin" };
const UNAUTHENTICATED = 16;
const log = createLogger("xds-server-token-expiry-test", {}, () => {});
let nats: NatsServer;
let nc: NatsConnection;
let server: XdsServer;
let client: AdsClient;
let issuer: TestIssuer;
const metrics = new XdsMetrics();
/** Added to the xds-server's token clock. */
let offsetMs = 0;

/** A waypoint token (the claims the API server puts in a projected token) valid for `seconds`. */
function token(seconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return issuer.sign({
    aud: [XDS_TOKEN_AUDIENCE],
    sub: "system:serviceaccount:httpbin:kgateway-waypoint",
    iat: now,
    nbf: now,
    exp: now + seconds,
    "kubernetes.io": { namespace: "httpbin", serviceaccount: { name: "kgateway-waypoint", uid: "u1" } },
  });
}

const count = async (c: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }) =>
  (await c.get()).values.reduce((n, v) => n + v.value, 0);
const expiredRefusals = async () =>
  (await metrics.authRejections.get()).values.find((v) => v.labels["reason"] === "expired")?.value ?? 0;

before(async () => {
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  issuer = await createIssuer(ISSUER);
  const keys: IssuerKeys = {
    issuer: ISSUER,
    jwks: issuer.jwks as IssuerKeys["jwks"],
    fetchedAt: new Date().toISOString(),
    source: "test",
  };
  await putJson(await openBucket(nc, Bucket.issuer, log), ISSUER_KEY, keys);
  await publish(await openBucket(nc, Bucket.xds, log), WAYPOINT, basic());
  server = await startXdsServer(
    { natsUrl: nats.url, address: "127.0.0.1:0", replica: "expiry", auth: "kubernetes", tokenSkewSeconds: 0 },
    log,
    { metrics, clock: () => Date.now() + offsetMs },
  );
  await waitFor("the snapshot", () => server.store.size === 1);
  client = new AdsClient(`127.0.0.1:${server.port}`);
});

after(async () => {
  client?.close();
  await server?.stop();
  await nc?.close();
  await nats?.stop();
});

test("a served stream ends UNAUTHENTICATED when its token expires; that token is refused after", {
  timeout: 30_000,
}, async () => {
  const short = await token(2);
  const s = client.delta({ token: short });
  s.send({ typeUrl: CDS, node: NODE });
  await s.next(5_000, "clusters: served");
  const st = await s.status;
  assert.equal(st.code, UNAUTHENTICATED, st.details);
  assert.match(st.details, /the stream's token expired at .*reconnect with a fresh token/);
  assert.equal(await count(metrics.tokenExpiries), 1);

  const before = await expiredRefusals();
  const again = client.delta({ token: short });
  again.send({ typeUrl: CDS, node: NODE });
  const refused = await again.status;
  assert.equal(refused.code, UNAUTHENTICATED, refused.details);
  assert.match(refused.details, /token expired at/);
  assert.equal(again.received.length, 0, "nothing sent on the expired token");
  assert.equal(await expiredRefusals(), before + 1);

  const fresh = client.delta({ token: await token(3600) });
  fresh.send({ typeUrl: CDS, node: NODE });
  await fresh.next(5_000, "clusters: served on a fresh token");
  fresh.close();
});

test("a request on a stream whose token has expired on the authenticator's clock ends it", {
  timeout: 30_000,
}, async () => {
  const s = client.delta({ token: await token(600) });
  s.send({ typeUrl: CDS, node: NODE });
  const before = await count(metrics.tokenExpiries);
  await s.next(5_000, "clusters");
  offsetMs = 601_000;
  try {
    s.send({ typeUrl: LDS });
    const st = await s.status;
    assert.equal(st.code, UNAUTHENTICATED, st.details);
    assert.match(st.details, /token expired/);
    assert.equal(s.received.length, 1, "no listeners sent after the deadline");
    assert.equal(await count(metrics.tokenExpiries), before + 1);
  } finally {
    offsetMs = 0;
  }
});
