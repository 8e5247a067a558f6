// Istio RequestAuthentication on the waypoint end to end (issue 13), through a real Envoy: the guide
// stack with RequestAuthentication and AuthorizationPolicy files written into its directory while it
// runs. Tokens are signed by test issuers (RS256 and ES256) whose JWKS is served over HTTP (jwksUri)
// or written inline. Checks the 401 cases, that a request without a token passes authentication and
// authorization decides, requestPrincipals and the request.auth.* keys, the token locations, the
// payload and claim headers seen upstream, forwardOriginalToken, a JWKS that only answers later, the
// status conditions, and examples/request-authentication as docs/authorization.md uses it.
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, ISTIO_SECURITY_GROUP, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import {
  createIssuer,
  freePort,
  type JwksServer,
  startJwksServer,
  type TestIssuer,
  waitFor,
} from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";

const EXAMPLE = join(REPO_ROOT, "examples", "request-authentication");
const GATEWAY_REF = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "kgateway-waypoint" };
const DENIED = "RBAC: access denied";

function requestAuthentication(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [GATEWAY_REF], ...spec },
  };
}

function authorizationPolicy(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [GATEWAY_REF], ...spec },
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const echoed = (r: HttpResult) => (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;
const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;

interface Conditions {
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
}

describe("standalone: RequestAuthentication through Envoy", { timeout: 300_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let jwks: JwksServer;
  let lateServer: Server | undefined;
  let latePort: number;
  let lateFetches = 0;
  // rsa: jwksUri; ec: inline jwks; locations: fromHeaders/fromParams/fromCookies; late: a jwksUri
  // that does not answer at first. imposter signs as rsa's issuer with rsa's kid but another key.
  let rsa: TestIssuer;
  let ec: TestIssuer;
  let locations: TestIssuer;
  let late: TestIssuer;
  let imposter: TestIssuer;
  let stranger: TestIssuer;

  const to = (path: string, opts?: RequestOptions, svc: GuideService = "httpbin2") =>
    guide.request(svc, path, opts);
  const write = (file: string, doc: unknown) =>
    writeFileSync(join(guide.dir, file), `${JSON.stringify(doc)}\n`);
  const remove = (file: string) => rmSync(join(guide.dir, file));
  /** Waits until `path` (no token) answers `status`: the sign that a policy change reached Envoy. */
  const untilStatus = (what: string, status: number, path = "/headers", opts?: RequestOptions) =>
    waitFor(what, async () => {
      const r = await to(path, opts);
      return r.status === status ? r : undefined;
    });
  const status = (name: string) =>
    getJson<StatusEntry>(
      statusKv,
      objectKey({ group: ISTIO_SECURITY_GROUP, kind: "RequestAuthentication", namespace: "httpbin", name }),
    );

  before(async () => {
    rsa = await createIssuer("https://rsa.issuer.test", "RS256");
    ec = await createIssuer("https://ec.issuer.test", "ES256");
    locations = await createIssuer("https://locations.issuer.test", "RS256", "locations-1");
    late = await createIssuer("https://late.issuer.test", "RS256", "late-1");
    imposter = await createIssuer(rsa.issuer, "RS256", rsa.kid);
    stranger = await createIssuer("https://stranger.issuer.test", "RS256");
    jwks = await startJwksServer({ rsa, locations });
    latePort = await freePort();
    guide = await startGuideStack("e2e-request-authentication");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
    await jwks?.stop();
    await new Promise<void>((resolve) => (lateServer ? lateServer.close(() => resolve()) : resolve()));
  });

  test("a jwksUri that does not answer yet: its tokens get 401 until it does, then they pass", async () => {
    write(
      "70-late.yaml",
      requestAuthentication("late-jwks", {
        jwtRules: [{ issuer: late.issuer, jwksUri: `http://127.0.0.1:${latePort}/late/jwks.json` }],
      }),
    );
    const token = await late.sign();
    // With no jwt_authn filter yet every token passes; the first 401 is the filter in force.
    const first = await waitFor("the late issuer's RequestAuthentication", async () => {
      const r = await to("/headers", { headers: bearer(token) });
      return r.status === 401 ? r : undefined;
    });
    assert.equal(first.status, 401, show(first));
    assert.equal((await to("/headers")).status, 200, "no token: authentication passes");

    // The JWKS server comes up only now, on the port the policy named. startJwksServer picks its own
    // port, so this one is a plain node:http server on a port chosen before the policy was written.
    lateServer = createServer((req, res) => {
      lateFetches++;
      if (req.url?.split("?")[0] !== "/late/jwks.json") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(late.jwks));
    });
    await new Promise<void>((resolve) => lateServer!.listen(latePort, "127.0.0.1", resolve));
    const ok = await waitFor(
      "a late token accepted once the JWKS answers",
      async () => {
        const r = await to("/headers", { headers: bearer(token) });
        return r.status === 200 ? r : undefined;
      },
      30_000,
      200,
    );
    assert.equal(ok.status, 200);
    assert.ok(lateFetches > 0, "Envoy fetched the JWKS from the late server");
    const lateImposter = await createIssuer(late.issuer, "RS256", late.kid);
    const bad = await to("/headers", { headers: bearer(await lateImposter.sign()) });
    assert.equal(bad.status, 401, `a token the late key did not sign: ${show(bad)}`);
  });

  test("jwksUri (RS256): a valid token passes; expired, not yet valid, wrong issuer, bad signature get 401, wrong audience 403", async () => {
    write(
      "71-rsa.yaml",
      requestAuthentication("rsa-jwks-uri", {
        jwtRules: [
          {
            issuer: rsa.issuer,
            jwksUri: jwks.jwksUri("rsa"),
            audiences: ["httpbin.rsa"],
            outputPayloadToHeader: "x-jwt-payload",
            outputClaimToHeaders: [{ header: "x-jwt-group", claim: "group" }],
          },
        ],
      }),
    );
    const valid = await rsa.sign({ sub: "alice", aud: "httpbin.rsa", group: "admins" });
    // Before the policy, rsa's issuer is unknown to the filter (401); after it, 200.
    const r = await waitFor("the jwksUri RequestAuthentication", async () => {
      const res = await to("/headers", { headers: bearer(valid) });
      return res.status === 200 ? res : undefined;
    });
    const h = echoed(r);
    assert.deepEqual(h["X-Jwt-Group"], ["admins"], "outputClaimToHeaders");
    const payload = JSON.parse(Buffer.from(h["X-Jwt-Payload"]?.[0] ?? "", "base64url").toString("utf8"));
    assert.equal(payload.iss, rsa.issuer, "outputPayloadToHeader carries the payload");
    assert.equal(payload.sub, "alice");
    assert.equal(h["Authorization"], undefined, "forwardOriginalToken unset: the token is removed upstream");
    assert.ok(jwks.fetches.get("/rsa/jwks.json")! > 0, "the JWKS was fetched over HTTP");

    const cases: Array<[string, Promise<string>]> = [
      ["expired", rsa.sign({ aud: "httpbin.rsa" }, { expired: true })],
      ["not yet valid", rsa.sign({ aud: "httpbin.rsa" }, { notYetValid: true })],
      ["wrong issuer", stranger.sign({ aud: "httpbin.rsa" })],
      ["bad signature", imposter.sign({ aud: "httpbin.rsa" })],
      ["not a JWT", Promise.resolve("not-a-jwt")],
    ];
    for (const [what, token] of cases) {
      const res = await to("/headers", { headers: bearer(await token) });
      assert.equal(res.status, 401, `${what}: ${show(res)}`);
    }
    // A wrong audience is the one failure Envoy's jwt_authn answers with 403, not 401 (its
    // JwtAudienceNotAllowed status); Istio's waypoint runs the same filter, so it answers the same.
    // The body tells it from RBAC's 403.
    for (const [what, token] of [
      ["wrong audience", await rsa.sign({ aud: "someone-else" })],
      ["no audience", await rsa.sign({ aud: undefined })],
    ] as const) {
      const res = await to("/headers", { headers: bearer(token) });
      assert.equal(res.status, 403, `${what}: ${show(res)}`);
      assert.equal(res.body, "Audiences in Jwt are not allowed", what);
    }
    const none = await to("/headers");
    assert.equal(none.status, 200, "no token: authentication passes");
    assert.equal(echoed(none)["X-Jwt-Group"], undefined, "no token, no claim header");
  });

  test("inline jwks (ES256) with forwardOriginalToken: true keeps the Authorization header upstream", async () => {
    write(
      "72-ec.yaml",
      requestAuthentication("ec-inline", {
        jwtRules: [{ issuer: ec.issuer, jwks: JSON.stringify(ec.jwks), forwardOriginalToken: true }],
      }),
    );
    const valid = await ec.sign({ sub: "carol" });
    const r = await waitFor("the inline-jwks RequestAuthentication", async () => {
      const res = await to("/headers", { headers: bearer(valid) });
      return res.status === 200 ? res : undefined;
    });
    assert.deepEqual(echoed(r)["Authorization"], [`Bearer ${valid}`]);
    const ecImposter = await createIssuer(ec.issuer, "ES256", ec.kid);
    for (const [what, token] of [
      ["expired", await ec.sign({}, { expired: true })],
      ["not yet valid", await ec.sign({}, { notYetValid: true })],
      ["bad signature", await ecImposter.sign()],
    ] as const) {
      const res = await to("/headers", { headers: bearer(token) });
      assert.equal(res.status, 401, `${what}: ${show(res)}`);
    }
    // The rsa rule still removes its own tokens: forwarding is per rule.
    const rsaToken = await rsa.sign({ aud: "httpbin.rsa" });
    assert.equal(echoed(await to("/headers", { headers: bearer(rsaToken) }))["Authorization"], undefined);
  });

  test("fromHeaders with a prefix, fromParams, fromCookies", async () => {
    write(
      "73-locations.yaml",
      requestAuthentication("locations", {
        jwtRules: [
          {
            issuer: locations.issuer,
            jwksUri: jwks.jwksUri("locations"),
            fromHeaders: [{ name: "x-jwt-assertion", prefix: "Token " }],
            fromParams: ["jwt"],
            fromCookies: ["session"],
            outputClaimToHeaders: [{ header: "x-jwt-locations-sub", claim: "sub" }],
          },
        ],
      }),
    );
    const viaHeader = await locations.sign({ sub: "via-header" });
    const sub = (res: HttpResult) => echoed(res)["X-Jwt-Locations-Sub"];
    const r = await waitFor("the locations RequestAuthentication", async () => {
      const res = await to("/headers", { headers: { "x-jwt-assertion": `Token ${viaHeader}` } });
      return res.status === 200 && sub(res) ? res : undefined;
    });
    assert.deepEqual(sub(r), ["via-header"]);

    const viaParam = await to(`/headers?jwt=${await locations.sign({ sub: "via-param" })}`);
    assert.equal(viaParam.status, 200, show(viaParam));
    assert.deepEqual(sub(viaParam), ["via-param"]);
    const viaCookie = await to("/headers", {
      headers: { cookie: `theme=dark; session=${await locations.sign({ sub: "via-cookie" })}` },
    });
    assert.equal(viaCookie.status, 200, show(viaCookie));
    assert.deepEqual(sub(viaCookie), ["via-cookie"]);

    const noPrefix = await to("/headers", { headers: { "x-jwt-assertion": viaHeader } });
    assert.equal(noPrefix.status, 200, "without the prefix the header holds no token: missing, not failed");
    assert.equal(sub(noPrefix), undefined);

    const expired = await locations.sign({ sub: "expired" }, { expired: true });
    for (const [what, opts] of [
      ["header", { headers: { "x-jwt-assertion": `Token ${expired}` } }],
      ["cookie", { headers: { cookie: `session=${expired}` } }],
    ] as const) {
      const res = await to("/headers", opts);
      assert.equal(res.status, 401, `expired token in the ${what}: ${show(res)}`);
    }
    const param = await to(`/headers?jwt=${expired}`);
    assert.equal(param.status, 401, `expired token in the param: ${show(param)}`);
    const elsewhere = await to("/headers", { headers: bearer(viaHeader) });
    assert.equal(elsewhere.status, 401, `a token at a location its issuer does not use: ${show(elsewhere)}`);
  });

  test("no token passes authentication, then ALLOW requestPrincipals [*] gives 403", async () => {
    write(
      "80-require-jwt.yaml",
      authorizationPolicy("require-jwt", {
        action: "ALLOW",
        rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }],
      }),
    );
    const denied = await untilStatus("ALLOW requestPrincipals [*]", 403);
    assert.equal(denied.body, DENIED);
    const ok = await to("/headers", { headers: bearer(await rsa.sign({ aud: "httpbin.rsa" })) });
    assert.equal(ok.status, 200, show(ok));
    const okEc = await to("/headers", { headers: bearer(await ec.sign()) });
    assert.equal(okEc.status, 200, show(okEc));
    const expired = await to("/headers", {
      headers: bearer(await rsa.sign({ aud: "httpbin.rsa" }, { expired: true })),
    });
    assert.equal(expired.status, 401, `authentication runs before authorization: ${show(expired)}`);
    remove("80-require-jwt.yaml");
    await untilStatus("ALLOW requestPrincipals [*] removed", 200);
  });

  test("DENY notRequestPrincipals [*] gives 403 without a token, 200 with one", async () => {
    write(
      "81-deny-anonymous.yaml",
      authorizationPolicy("deny-anonymous", {
        action: "DENY",
        rules: [{ from: [{ source: { notRequestPrincipals: ["*"] } }] }],
      }),
    );
    const denied = await untilStatus("DENY notRequestPrincipals [*]", 403);
    assert.equal(denied.body, DENIED);
    const ok = await to("/headers", { headers: bearer(await rsa.sign({ aud: "httpbin.rsa" })) });
    assert.equal(ok.status, 200, show(ok));
    const other = await to("/headers", {}, "httpbin3");
    assert.equal(other.status, 403, "a Gateway targetRef covers every service of the waypoint");
    remove("81-deny-anonymous.yaml");
    await untilStatus("DENY notRequestPrincipals [*] removed", 200);
  });

  test("requestPrincipals <iss>/<sub>, request.auth.claims[group], audiences and presenter in when", async () => {
    write(
      "82-claims.yaml",
      authorizationPolicy("claims", {
        action: "ALLOW",
        rules: [
          {
            to: [{ operation: { paths: ["/anything/principal"] } }],
            from: [{ source: { requestPrincipals: [`${rsa.issuer}/alice`] } }],
          },
          {
            to: [{ operation: { paths: ["/anything/group"] } }],
            when: [{ key: "request.auth.claims[group]", values: ["admins"] }],
          },
          {
            to: [{ operation: { paths: ["/anything/nested"] } }],
            when: [{ key: "request.auth.claims[realm][role]", values: ["editor"] }],
          },
          {
            to: [{ operation: { paths: ["/anything/audience"] } }],
            when: [{ key: "request.auth.audiences", values: ["extra.aud"] }],
          },
          {
            to: [{ operation: { paths: ["/anything/presenter"] } }],
            when: [{ key: "request.auth.presenter", values: ["frontend"] }],
          },
        ],
      }),
    );
    await untilStatus("the claims policy", 403, "/anything/principal");
    const aud = "httpbin.rsa";
    const expect: Array<[string, string, Record<string, unknown> | "ec" | undefined, number]> = [
      ["/anything/principal", "rsa alice", { sub: "alice", aud }, 200],
      ["/anything/principal", "rsa bob", { sub: "bob", aud }, 403],
      ["/anything/principal", "alice of another issuer", "ec", 403],
      ["/anything/principal", "no token", undefined, 403],
      ["/anything/group", "group admins", { group: "admins", aud }, 200],
      ["/anything/group", "groups [dev, admins]", { group: ["dev", "admins"], aud }, 200],
      ["/anything/group", "group dev", { group: "dev", aud }, 403],
      ["/anything/group", "no group claim", { aud }, 403],
      ["/anything/nested", "realm.role editor", { realm: { role: "editor" }, aud }, 200],
      ["/anything/nested", "realm.role viewer", { realm: { role: "viewer" }, aud }, 403],
      ["/anything/audience", "aud [httpbin.rsa, extra.aud]", { aud: [aud, "extra.aud"] }, 200],
      ["/anything/audience", "aud httpbin.rsa", { aud }, 403],
      ["/anything/presenter", "azp frontend", { azp: "frontend", aud }, 200],
      ["/anything/presenter", "azp backend", { azp: "backend", aud }, 403],
      ["/anything/other", "a path no rule names", { sub: "alice", aud }, 403],
    ];
    for (const [path, what, claims, want] of expect) {
      const token = claims === "ec" ? await ec.sign({ sub: "alice" }) : claims && (await rsa.sign(claims));
      const res = await to(path, token ? { headers: bearer(token) } : {});
      assert.equal(res.status, want, `${path}, ${what}: ${show(res)}`);
      if (want === 403) assert.equal(res.body, DENIED);
    }
    remove("82-claims.yaml");
    await untilStatus("the claims policy removed", 200, "/anything/principal");
  });

  test("status: WaypointAccepted and waymark.dev/Translated on bound RequestAuthentications, none on selector ones", async () => {
    // Both in one file, the selector one first: the watcher publishes them together, so by the time
    // the missing-target policy has its status the translator has read the selector one too.
    const selectorOnly = {
      ...requestAuthentication("selector-only", {}),
      spec: {
        selector: { matchLabels: { app: "httpbin2" } },
        jwtRules: [{ issuer: "https://selector.test", jwks: JSON.stringify(stranger.jwks) }],
      },
    };
    const missingTarget = requestAuthentication("missing-target", {
      targetRefs: [{ ...GATEWAY_REF, name: "no-such-waypoint" }],
      jwtRules: [{ issuer: "https://nowhere.test", jwks: JSON.stringify(stranger.jwks) }],
    });
    writeFileSync(
      join(guide.dir, "74-not-bound.yaml"),
      `${JSON.stringify(selectorOnly)}\n---\n${JSON.stringify(missingTarget)}\n`,
    );

    const conditionsOf = async (name: string) => {
      const st = await waitFor(`status of ${name}`, async () => {
        const e = await status(name);
        return (e?.status as Conditions | undefined)?.conditions?.length ? e : undefined;
      });
      return Object.fromEntries(((st.status as Conditions).conditions ?? []).map((c) => [c.type, c]));
    };
    for (const name of ["rsa-jwks-uri", "ec-inline", "locations", "late-jwks"]) {
      const c = await conditionsOf(name);
      assert.equal(c["WaypointAccepted"]?.status, "True", `${name}: ${JSON.stringify(c)}`);
      assert.equal(c["WaypointAccepted"]?.reason, "Accepted");
      assert.equal(c["WaypointAccepted"]?.message, "bound to httpbin/kgateway-waypoint");
      assert.equal(c["waymark.dev/Translated"]?.status, "True", `${name}: ${JSON.stringify(c)}`);
      assert.equal(c["waymark.dev/Translated"]?.reason, "Translated");
    }
    const missing = await conditionsOf("missing-target");
    assert.equal(missing["WaypointAccepted"]?.status, "False", JSON.stringify(missing));
    assert.equal(missing["WaypointAccepted"]?.reason, "TargetNotFound");
    assert.equal(missing["WaypointAccepted"]?.message, "not bound");
    assert.equal(await status("selector-only"), undefined, "a selector policy is ztunnel's: no status");
    // Neither policy reaches the waypoint's chains: the issuers they name stay unknown to it.
    for (const iss of ["https://selector.test", "https://nowhere.test"]) {
      const res = await to("/headers", { headers: bearer(await stranger.sign({ iss })) });
      assert.equal(res.status, 401, `${iss}: ${show(res)}`);
    }
    remove("74-not-bound.yaml");
  });

  test("binding: a Service targetRef authenticates only that service, a root-namespace GatewayClass every one", async () => {
    const svcIssuer = await createIssuer("https://service.issuer.test", "ES256", "service-1");
    const classIssuer = await createIssuer("https://class.issuer.test", "ES256", "class-1");
    const serviceRa = requestAuthentication("httpbin3-only", {
      targetRefs: [{ group: "", kind: "Service", name: "httpbin3" }],
      jwtRules: [
        {
          issuer: svcIssuer.issuer,
          jwks: JSON.stringify(svcIssuer.jwks),
          fromHeaders: [{ name: "x-service-token" }],
        },
      ],
    });
    const classRule = {
      issuer: classIssuer.issuer,
      jwks: JSON.stringify(classIssuer.jwks),
      fromHeaders: [{ name: "x-class-token" }],
    };
    const classTarget = [
      { group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "kgateway-waypoint" },
    ];
    const classRa = requestAuthentication("class-wide", { targetRefs: classTarget, jwtRules: [classRule] });
    classRa.metadata.namespace = "istio-system";
    const misplaced = requestAuthentication("class-misplaced", {
      targetRefs: classTarget,
      jwtRules: [classRule],
    });
    write("77-httpbin3-only.yaml", serviceRa);
    writeFileSync(
      join(guide.dir, "78-class.yaml"),
      `${JSON.stringify(classRa)}\n---\n${JSON.stringify(misplaced)}\n`,
    );
    const svcExpired = { "x-service-token": await svcIssuer.sign({}, { expired: true }) };
    const classExpired = { "x-class-token": await classIssuer.sign({}, { expired: true }) };
    const on = (svc: GuideService, headers: Record<string, string>) => to("/headers", { headers }, svc);
    await waitFor(
      "the Service-bound RequestAuthentication",
      async () => (await on("httpbin3", svcExpired)).status === 401,
    );
    await waitFor(
      "the GatewayClass-bound RequestAuthentication",
      async () => (await on("httpbin2", classExpired)).status === 401,
    );
    assert.equal((await on("httpbin2", svcExpired)).status, 200, "httpbin2 does not read x-service-token");
    assert.equal((await on("httpbin3", classExpired)).status, 401, "the class binds httpbin3 too");
    const svcOk = await on("httpbin3", { "x-service-token": await svcIssuer.sign() });
    assert.equal(svcOk.status, 200, show(svcOk));
    const classOk = await on("httpbin3", { "x-class-token": await classIssuer.sign() });
    assert.equal(classOk.status, 200, show(classOk));

    const conditions = async (namespace: string, name: string) => {
      const key = objectKey({ group: ISTIO_SECURITY_GROUP, kind: "RequestAuthentication", namespace, name });
      const st = await waitFor(`status of ${namespace}/${name}`, async () => {
        const e = await getJson<StatusEntry>(statusKv, key);
        return (e?.status as Conditions | undefined)?.conditions?.length ? e : undefined;
      });
      return Object.fromEntries(((st.status as Conditions).conditions ?? []).map((c) => [c.type, c]));
    };
    const svcStatus = await conditions("httpbin", "httpbin3-only");
    assert.equal(
      svcStatus["WaypointAccepted"]?.message,
      "bound to httpbin/kgateway-waypoint",
      JSON.stringify(svcStatus),
    );
    const classStatus = await conditions("istio-system", "class-wide");
    assert.equal(classStatus["WaypointAccepted"]?.status, "True", JSON.stringify(classStatus));
    assert.equal(classStatus["WaypointAccepted"]?.message, "bound to kgateway-waypoint");
    const wrong = await conditions("httpbin", "class-misplaced");
    assert.equal(wrong["WaypointAccepted"]?.status, "False", JSON.stringify(wrong));
    assert.equal(wrong["WaypointAccepted"]?.reason, "Invalid");
    assert.equal(
      wrong["WaypointAccepted"]?.message,
      "RequestAuthentication must be in the root namespace `istio-system` when referencing a GatewayClass",
    );
    remove("77-httpbin3-only.yaml");
    remove("78-class.yaml");
    await waitFor(
      "the bound RequestAuthentications removed",
      async () => (await on("httpbin3", svcExpired)).status === 200,
    );
    await waitFor("the class one removed", async () => (await on("httpbin2", classExpired)).status === 200);
  });

  test("a jwtRule that cannot be programmed fails closed (its tokens get 401) and is named in status", async () => {
    const broken = await createIssuer("https://broken.issuer.test", "RS256", "broken-1");
    const token = await broken.sign();
    const at = { headers: { "x-broken-token": token } };
    // Before the policy the waypoint reads no token from x-broken-token: the request passes.
    assert.equal((await to("/headers", at)).status, 200);
    write(
      "76-broken.yaml",
      requestAuthentication("broken", {
        jwtRules: [{ issuer: broken.issuer, jwks: "not json", fromHeaders: [{ name: "x-broken-token" }] }],
      }),
    );
    const denied = await waitFor("the broken rule's location read and failing", async () => {
      const r = await to("/headers", at);
      return r.status === 401 ? r : undefined;
    });
    assert.equal(denied.status, 401, show(denied));
    const st = await waitFor("status of broken", async () => {
      const e = await status("broken");
      return (e?.status as Conditions | undefined)?.conditions?.length ? e : undefined;
    });
    const c = Object.fromEntries(((st.status as Conditions).conditions ?? []).map((x) => [x.type, x]));
    assert.equal(c["WaypointAccepted"]?.status, "True", JSON.stringify(c));
    const translated = c["waymark.dev/Translated"];
    assert.equal(translated?.status, "False", JSON.stringify(c));
    assert.equal(translated?.reason, "PartiallyTranslated");
    assert.match(
      translated?.message ?? "",
      /^rule 0: jwtRules\[0\]\.jwks: not JSON; .*\(not programmed, its tokens fail\)$/,
    );
    assert.equal((await to("/headers")).status, 200, "other requests are not affected");
    remove("76-broken.yaml");
    await waitFor("the broken rule removed", async () => (await to("/headers", at)).status === 200);
  });

  test("the example: examples/request-authentication as docs/authorization.md applies it", async () => {
    const demo = readFileSync(join(EXAMPLE, "demo.jwt"), "utf8").trim();
    for (const f of ["60-request-authentication.yaml", "61-require-jwt.yaml"])
      copyFileSync(join(EXAMPLE, f), join(guide.dir, f));
    const denied = await untilStatus("the example's policies", 403);
    assert.equal(denied.body, DENIED, "httpbin2 without a token");
    const ok = await to("/headers", { headers: bearer(demo) });
    assert.equal(ok.status, 200, show(ok));
    assert.deepEqual(echoed(ok)["X-Jwt-Sub"], ["demo-user"]);
    const bad = await to("/headers", { headers: bearer("invalid") });
    assert.equal(bad.status, 401, show(bad));
    const other = await to("/headers", {
      headers: bearer(await rsa.sign({ sub: "demo-user", aud: "httpbin.rsa" })),
    });
    assert.equal(other.status, 403, `demo-user of another issuer: ${show(other)}`);
    const httpbin3 = await to("/headers", {}, "httpbin3");
    assert.equal(httpbin3.status, 200, "the Service targetRef leaves httpbin3 alone");
    remove("61-require-jwt.yaml");
    remove("60-request-authentication.yaml");
    await untilStatus("the example removed", 200);
  });

  test("a route matching on a claim header is chosen only by a verified claim, never by a client's header", async () => {
    // The route's rule for `x-verified-group: admins` adds X-Routed; the guide's own rule (prefix /)
    // takes everything else. jwt_authn writes x-verified-group from the token's claim; a client
    // without a token who sends the header itself must not reach the admins rule.
    write("72-claims-route.yaml", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "httpbin2-admins", namespace: "httpbin" },
      spec: {
        parentRefs: [{ group: "", kind: "Service", name: "httpbin2" }],
        rules: [
          {
            matches: [
              {
                path: { type: "PathPrefix", value: "/" },
                headers: [{ name: "x-verified-group", value: "admins" }],
              },
            ],
            backendRefs: [{ name: "httpbin2", port: 8000 }],
            filters: [
              {
                type: "RequestHeaderModifier",
                requestHeaderModifier: { add: [{ name: "X-Routed", value: "admins" }] },
              },
            ],
          },
        ],
      },
    });
    write(
      "72-claims-ra.yaml",
      requestAuthentication("claims", {
        jwtRules: [
          {
            issuer: ec.issuer,
            jwks: JSON.stringify(ec.jwks),
            outputClaimToHeaders: [{ header: "x-verified-group", claim: "group" }],
          },
        ],
      }),
    );
    const admins = await ec.sign({ group: "admins" });
    const verified = await waitFor("the claim route with a verified token", async () => {
      const r = await to("/headers", { headers: bearer(admins) });
      return r.status === 200 && echoed(r)["X-Routed"] ? r : undefined;
    });
    assert.deepEqual(echoed(verified)["X-Verified-Group"], ["admins"]);
    const spoofed = await to("/headers", { headers: { "x-verified-group": "admins" } });
    assert.equal(spoofed.status, 200, show(spoofed));
    assert.equal(echoed(spoofed)["X-Routed"], undefined, "a client's own claim header chose the admins rule");
    assert.equal(echoed(spoofed)["X-Verified-Group"], undefined, "the client's header reached the backend");
    const users = await to("/headers", {
      headers: { ...bearer(await ec.sign({ group: "users" })), "x-verified-group": "admins" },
    });
    assert.equal(
      echoed(users)["X-Routed"],
      undefined,
      "a token's other group, with the header added by the client",
    );
    assert.deepEqual(echoed(users)["X-Verified-Group"], ["users"]);
    remove("72-claims-ra.yaml");
    remove("72-claims-route.yaml");
    await waitFor("the claim route removed", async () => {
      const r = await to("/headers", { headers: { "x-verified-group": "admins" } });
      return r.status === 200 && echoed(r)["X-Verified-Group"] ? r : undefined;
    });
  });
});
