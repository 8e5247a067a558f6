import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, ISSUER_KEY, type IssuerKeys } from "@waymark/api";
import { connectBus, getJson, type NatsConnection, openBucket } from "@waymark/bus";
import { type NatsServer, startNats, waitFor } from "@waymark/testing";
import { KubeClient } from "./client.ts";
import { fromKubeconfig } from "./connection.ts";
import { DISCOVERY_PATH, IssuerKeysPublisher, issuerKeysOf, JWKS_PATH } from "./issuer-keys.ts";

const log = createLogger("issuer-keys-test", {}, () => {});

const when = new Date("2026-03-01T12:00:00Z");
const rsa = { kty: "RSA", kid: "k1", alg: "RS256", use: "sig", n: "AQAB", e: "AQAB" };

test("the published entry holds the issuer and the public RSA and EC keys only", () => {
  const got = issuerKeysOf(
    { issuer: "https://kubernetes.default.svc", jwks_uri: "https://x/openid/v1/jwks" },
    {
      keys: [
        rsa,
        { kty: "EC", kid: "k2", crv: "P-256", x: "AA", y: "AA", d: "secret" },
        { kty: "oct", kid: "k3", k: "secret" },
        "junk",
      ],
    },
    "https://127.0.0.1:6443",
    when,
  );
  assert.deepEqual(got, {
    issuer: "https://kubernetes.default.svc",
    jwks: { keys: [rsa, { kty: "EC", kid: "k2", crv: "P-256", x: "AA", y: "AA" }] },
    fetchedAt: "2026-03-01T12:00:00.000Z",
    source: "https://127.0.0.1:6443",
  });
});

test("documents that are not an issuer's are refused with a reason", () => {
  assert.throws(() => issuerKeysOf({}, { keys: [rsa] }, "s", when), /names no issuer/);
  assert.throws(() => issuerKeysOf({ issuer: "i" }, { keys: "x" }, "s", when), /not a JSON Web Key Set/);
  assert.throws(() => issuerKeysOf({ issuer: "i" }, { keys: [{ kty: "oct" }] }, "s", when), /no RSA or EC/);
});

// The publisher against a local plain-HTTP stand-in of the API server's two documents and a real
// NATS: the keys are published at start; the server goes away and comes back with another key, and
// the first request it answers makes the publisher read and publish the new key at once (its timer
// is an hour here, so nothing else could).
describe("IssuerKeysPublisher", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const dir = mkdtempSync(join(tmpdir(), "issuer-keys-test-"));
  before(async () => {
    nats = await startNats();
    nc = await connectBus({ servers: nats.url, name: "test", log });
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("publishes the keys, and the new ones as soon as the API server answers again", async () => {
    let kid = "k1";
    const serve = (port = 0) =>
      new Promise<Server>((resolve) => {
        const s = createServer((req, res) => {
          res.setHeader("content-type", "application/json");
          if (req.url === DISCOVERY_PATH)
            res.end(JSON.stringify({ issuer: "https://kubernetes.default.svc" }));
          else if (req.url === JWKS_PATH) res.end(JSON.stringify({ keys: [{ ...rsa, kid }] }));
          else res.end("{}");
        });
        s.listen(port, "127.0.0.1", () => resolve(s));
      });
    let api = await serve();
    const port = (api.address() as AddressInfo).port;
    const kubeconfig = join(dir, "kubeconfig.json");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
        "current-context": "ctx",
      }),
    );
    const client = new KubeClient(fromKubeconfig(kubeconfig));
    const kv = await openBucket(nc, Bucket.issuer, log);
    const publisher = new IssuerKeysPublisher({ client, kv, log, refreshMs: 3_600_000 });
    const kids = async () => (await getJson<IssuerKeys>(kv, ISSUER_KEY))?.jwks.keys.map((k) => k.kid);
    try {
      assert.equal(await publisher.start(), true);
      assert.deepEqual(await kids(), ["k1"]);

      await new Promise<void>((r) => api.close(() => r()));
      client.close(); // no pooled connection to the old server
      kid = "k2";
      await assert.rejects(client.request("GET", "/api"), /ECONNREFUSED/);
      api = await serve(port);
      assert.deepEqual(await kids(), ["k1"], "not read again before the server answers");
      await client.request("GET", "/api");
      await waitFor("the new key published", async () => (await kids())?.join() === "k2", 10_000, 20);
    } finally {
      publisher.stop();
      client.close();
      api.close();
    }
  });
});
