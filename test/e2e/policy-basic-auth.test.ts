// TrafficPolicy basicAuth end to end through a real Envoy, with {SHA} htpasswd users computed here
// (base64 of the SHA-1 of the password) and written inline or into Secrets of the watched directory
// while the guide stack runs: 401 without credentials (with Envoy's WWW-Authenticate challenge), with a
// wrong password or an unknown user; 200 with the right one; a Secret's htpasswd file under .htpasswd,
// edited (a new user works, a removed one stops); a Gateway-level policy with `disable` on one route;
// a missing Secret and a bcrypt user making the policy Invalid and the route answer 500 (fails
// closed). The status never shows a hash, and Envoy never NACKs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders, type HttpResult, type RequestOptions } from "../lib/http.ts";

const ROUTE = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" };
const GATEWAY = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "kgateway-waypoint" };

/** An htpasswd line as `htpasswd -s` writes it. */
const sha = (user: string, password: string) =>
  `${user}:{SHA}${createHash("sha1").update(password).digest("base64")}`;
const BCRYPT = "$2y$05$H5iJbsJPn0dZVD6kM6tOQuVJxLw7KjKCGvWlhG1SxNxLNn6hZoKYy";
const PASSWORDS = ["alice-pw-1", "bob-pw-2", "carol-pw-3", "dave-pw-4"];

function secret(name: string, entries: Record<string, string>): string {
  // data (base64), as the API server serves it.
  const data = Object.fromEntries(
    Object.entries(entries).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
  );
  return `${JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "httpbin" }, type: "Opaque", data })}\n`;
}
function policy(name: string, basicAuth: unknown, target: Record<string, unknown> = ROUTE): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [target], basicAuth },
  })}\n`;
}
const basic = (user: string, password: string): RequestOptions => ({
  headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` },
});

describe("standalone: TrafficPolicy basicAuth through Envoy", { timeout: 180_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const to = (path: string, opts?: RequestOptions, svc: GuideService = "httpbin2") =>
    guide.request(svc, path, opts);
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const until = (
    what: string,
    path: string,
    opts: RequestOptions | undefined,
    status: number,
    svc: GuideService = "httpbin2",
  ) =>
    waitFor(what, async () => {
      const r = await to(path, opts, svc);
      return r.status === status ? r : undefined;
    });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;
  const statusOf = (name: string) =>
    getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
    );
  const accepted = async (name: string) =>
    (
      (await statusOf(name))?.status["ancestors"] as
        | Array<{ conditions: Array<{ type: string; reason: string; message: string }> }>
        | undefined
    )?.[0]?.conditions.find((c) => c.type === "Accepted");
  const acceptedAs = (name: string, reason: string) =>
    waitFor(`${name} ${reason}`, async () => {
      const c = await accepted(name);
      return c?.reason === reason ? c : undefined;
    });
  /** No hash and no password anywhere in a policy's status. */
  const noSecretIn = async (name: string) => {
    const all = JSON.stringify(await statusOf(name));
    const digests = PASSWORDS.map((p) => createHash("sha1").update(p).digest("base64"));
    for (const hidden of [...digests, BCRYPT, "$2y$", ...PASSWORDS])
      assert.ok(!all.includes(hidden), `the status of ${name} shows ${hidden}: ${all}`);
  };

  before(async () => {
    guide = await startGuideStack("e2e-policy-basic-auth");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("inline users: 401 without credentials (challenge), wrong password or unknown user; 200 with the right one", async () => {
    assert.equal((await to("/headers")).status, 200, "no policy yet");
    write(
      "50-basic-auth.yaml",
      policy("basic-auth", { users: [sha("alice", "alice-pw-1"), sha("bob", "bob-pw-2"), "# no one else"] }),
    );
    const none = await until("the policy in force", "/headers", undefined, 401);
    assert.match(String(none.headers["www-authenticate"]), /^Basic realm=/, "Envoy's challenge");
    assert.match(none.body, /User authentication failed/);
    assert.equal((await to("/headers", basic("alice", "wrong"))).status, 401, "a wrong password");
    assert.equal((await to("/headers", basic("mallory", "alice-pw-1"))).status, 401, "an unknown user");
    assert.equal((await to("/headers", basic("alice", "bob-pw-2"))).status, 401, "another user's password");
    assert.equal(
      (await to("/headers", { headers: { authorization: "Bearer alice-pw-1" } })).status,
      401,
      "not Basic",
    );

    const alice = await to("/headers", basic("alice", "alice-pw-1"));
    assert.equal(alice.status, 200, show(alice));
    // As in kgateway, the credentials go upstream unchanged and no username header is added.
    assert.deepEqual(echoedHeaders(alice)["Authorization"], [
      basic("alice", "alice-pw-1").headers!.authorization,
    ]);
    const bob = await to("/headers", basic("bob", "bob-pw-2"));
    assert.equal(bob.status, 200, show(bob));
    assert.equal(
      (await to("/headers", undefined, "httpbin3")).status,
      200,
      "another route needs no credentials",
    );

    await acceptedAs("basic-auth", "Valid");
    await noSecretIn("basic-auth");
  });

  test("secretRef: the htpasswd file under .htpasswd; editing the Secret adds and removes users", async () => {
    write("40-users.yaml", secret("users", { ".htpasswd": `# team\r\n${sha("carol", "carol-pw-3")}\r\n` }));
    write("50-basic-auth.yaml", policy("basic-auth", { secretRef: { name: "users" } }));
    const carol = await until("carol from the Secret", "/headers", basic("carol", "carol-pw-3"), 200);
    assert.equal(carol.status, 200);
    assert.equal((await to("/headers", basic("alice", "alice-pw-1"))).status, 401, "inline users are gone");
    assert.equal((await to("/headers")).status, 401);

    // Rotation: dave added, carol removed, in the watched directory.
    write("40-users.yaml", secret("users", { ".htpasswd": `${sha("dave", "dave-pw-4")}\n` }));
    await until("carol no longer let in", "/headers", basic("carol", "carol-pw-3"), 401);
    const dave = await to("/headers", basic("dave", "dave-pw-4"));
    assert.equal(dave.status, 200, show(dave));
    await acceptedAs("basic-auth", "Valid");
    await noSecretIn("basic-auth");
  });

  test("Gateway-level users; disable on one route keeps it open", async () => {
    write("50-basic-auth.yaml", policy("basic-auth", { disable: {} }));
    write(
      "51-gateway-basic-auth.yaml",
      policy("gateway-basic-auth", { secretRef: { name: "users" } }, GATEWAY),
    );
    await until("httpbin3 asks for credentials", "/headers", undefined, 401, "httpbin3");
    const dave = await to("/headers", basic("dave", "dave-pw-4"), "httpbin3");
    assert.equal(dave.status, 200, show(dave));
    assert.equal((await to("/headers")).status, 200, "httpbin2's route disables it");
    rmSync(join(guide.dir, "51-gateway-basic-auth.yaml"));
    await until("httpbin3 open again", "/headers", undefined, 200, "httpbin3");
  });

  test("a missing Secret fails closed: 500, Invalid naming the field", async () => {
    write("50-basic-auth.yaml", policy("basic-auth", { secretRef: { name: "missing" } }));
    const r = await until("the route failing closed", "/headers", basic("dave", "dave-pw-4"), 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const c = await acceptedAs("basic-auth", "Invalid");
    assert.match(c.message, /basicAuth\.secretRef: Secret httpbin\/missing not found/);
    await noSecretIn("basic-auth");
  });

  test("a bcrypt user makes the policy Invalid, naming the field and the user, never the hash; 500", async () => {
    write("50-basic-auth.yaml", policy("basic-auth", { users: [sha("alice", "alice-pw-1")] }));
    await until("alice let in", "/headers", basic("alice", "alice-pw-1"), 200);
    write(
      "50-basic-auth.yaml",
      policy("basic-auth", { users: [sha("alice", "alice-pw-1"), `legacy:${BCRYPT}`] }),
    );
    const r = await until("the route failing closed", "/headers", basic("alice", "alice-pw-1"), 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const c = await acceptedAs("basic-auth", "Invalid");
    assert.match(c.message, /basicAuth\.users\[1\] \(legacy\): a bcrypt hash; Envoy checks only \{SHA\}/);
    await noSecretIn("basic-auth");

    // The same line in the Secret: Invalid naming the Secret, key, line and user.
    write(
      "40-users.yaml",
      secret("users", { ".htpasswd": `${sha("dave", "dave-pw-4")}\nlegacy:${BCRYPT}\n` }),
    );
    write("50-basic-auth.yaml", policy("basic-auth", { secretRef: { name: "users" } }));
    const s = await waitFor("the Secret's bcrypt line reported", async () => {
      const x = await accepted("basic-auth");
      return x?.reason === "Invalid" && x.message.includes("line 2") ? x : undefined;
    });
    assert.match(
      s.message,
      /basicAuth\.secretRef \(legacy\): Secret httpbin\/users key \.htpasswd line 2: a bcrypt hash/,
    );
    assert.equal((await to("/headers", basic("dave", "dave-pw-4"))).status, 500);
    await noSecretIn("basic-auth");

    rmSync(join(guide.dir, "50-basic-auth.yaml"));
    await until("no policy: no credentials needed", "/headers", undefined, 200);
  });

  test("Envoy never NACKed", async () => {
    const keys = await listKeys(proxiesKv);
    assert.ok(keys.length > 0, "no proxy record");
    for (const k of keys) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    assert.ok(stats.size > 0, "no update_rejected stats");
    for (const [name, v] of stats) assert.equal(v, 0, name);
  });
});
