import assert from "node:assert/strict";
import { test } from "node:test";
import { SECRET_TYPE_URL } from "@waymark/envoy-proto";
import { GOLDEN_SETTINGS, goldenFiles, loadCase } from "../../golden-cases.ts";
import { translate } from "../../index.ts";
import { isRecord } from "../../input/guards.ts";
import type { ExtensionContext } from "../extensions/kind.ts";
import { readOAuth2, redirectPath } from "./extension.ts";
import { deriveHmacSecret } from "./spec.ts";

const CLIENT_SECRET = "test-only-client-secret";

function ctx(secrets: Record<string, Record<string, string>> = { c: { "client-secret": CLIENT_SECRET } }) {
  const c: ExtensionContext = {
    settings: GOLDEN_SETTINGS,
    namespace: "w",
    secret: (name) =>
      secrets[name]
        ? { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "w" }, stringData: secrets[name] }
        : undefined,
    backend: (ref) =>
      isRecord(ref) && ref.name === "idp"
        ? {
            ok: true,
            target: {
              cluster: "kube_w_idp_4444",
              service: { namespace: "w", name: "idp" },
              port: { port: 4444 },
            } as never,
          }
        : { ok: false, message: "Service nope not found" },
  };
  return c;
}

const base = {
  authorizationEndpoint: "https://idp.w:4444/oauth2/auth",
  tokenEndpoint: "https://idp.w:4444/oauth2/token",
  backendRef: { name: "idp", port: 4444 },
  credentials: { clientID: "shop", clientSecretRef: { name: "c" } },
};

test("the defaults: callback /oauth2/redirect on the request's own host, /logout, scope openid", () => {
  const r = readOAuth2(base, ctx());
  assert.ok(r.ok);
  assert.equal(r.value.config.redirectUri, "%REQ(x-forwarded-proto)%://%REQ(:authority)%/oauth2/redirect");
  assert.deepEqual(r.value.config.redirectPathMatcher, { path: { exact: "/oauth2/redirect" } });
  assert.deepEqual(r.value.config.signoutPath, { path: { exact: "/logout" } });
  assert.deepEqual(r.value.config.authScopes, ["openid"]);
  assert.equal(r.value.config.tokenEndpoint?.cluster, "kube_w_idp_4444");
  assert.equal(r.value.clientSecret, CLIENT_SECRET);
});

test("issuerURI alone is refused: the translator does not fetch OIDC discovery", () => {
  const { authorizationEndpoint: _a, tokenEndpoint: _t, ...rest } = base;
  const r = readOAuth2({ ...rest, issuerURI: "https://idp.w:4444/" }, ctx());
  assert.ok(!r.ok);
  assert.deepEqual(
    r.errors.map((e) => e.path),
    ["oauth2.issuerURI"],
  );
  assert.match(r.errors[0]!.message, /authorizationEndpoint and tokenEndpoint/);
});

test("errors name their field and never the secret's value", () => {
  const cases: Array<[Record<string, unknown>, string, ReturnType<typeof ctx>?]> = [
    [{ ...base, jwt: { accessToken: {} } }, "oauth2.jwt"],
    [
      { ...base, credentials: { clientID: "shop", clientSecretRef: { name: "missing" } } },
      "oauth2.credentials.clientSecretRef",
    ],
    [base, "oauth2.credentials.clientSecretRef", ctx({ c: { secret: CLIENT_SECRET } })],
    [{ ...base, backendRef: { name: "nope", port: 1 } }, "oauth2.backendRef"],
    [{ ...base, redirectURI: "/callback" }, "oauth2.redirectURI"],
    [{ ...base, logoutPath: "logout" }, "oauth2.logoutPath"],
    [{ ...base, cookies: { sameSite: "Sometimes" } }, "oauth2.cookies.sameSite"],
    [
      { ...base, denyRedirect: { headers: [{ name: "x y", value: "1" }] } },
      "oauth2.denyRedirect.headers[0].name",
    ],
    [{ ...base, tokenEndpoint: "not a url" }, "oauth2.tokenEndpoint"],
  ];
  for (const [spec, path, c] of cases) {
    const r = readOAuth2(spec, c ?? ctx());
    assert.ok(!r.ok, path);
    assert.ok(
      r.errors.some((e) => e.path === path),
      `${path}: ${JSON.stringify(r.errors)}`,
    );
    assert.ok(!JSON.stringify(r.errors).includes(CLIENT_SECRET), path);
  }
});

test("redirectPath finds the callback path behind Envoy's formatters", () => {
  assert.equal(redirectPath("%REQ(x-forwarded-proto)%://%REQ(:authority)%/cb"), "/cb");
  assert.equal(redirectPath("https://app.example/oauth2/callback?x=1"), "/oauth2/callback");
  assert.equal(redirectPath("https://app.example"), undefined);
  assert.equal(redirectPath("/cb"), undefined);
});

test("the HMAC secret is stable, per extension and client, and changes with the client secret", () => {
  const a = deriveHmacSecret(CLIENT_SECRET, "w/idp", "shop");
  assert.equal(a, deriveHmacSecret(CLIENT_SECRET, "w/idp", "shop"));
  assert.equal(Buffer.from(a, "base64").length, 32);
  assert.notEqual(a, deriveHmacSecret(`${CLIENT_SECRET}2`, "w/idp", "shop"));
  assert.notEqual(a, deriveHmacSecret(CLIENT_SECRET, "w/other", "shop"));
  assert.notEqual(a, deriveHmacSecret(CLIENT_SECRET, "w/idp", "cart"));
  assert.ok(!a.includes(CLIENT_SECRET));
});

test("golden trafficpolicy-oauth2: the same secrets in two translations, none of them in status", () => {
  const c = loadCase("trafficpolicy-oauth2");
  const one = translate(c.input, c.settings);
  const two = translate(c.input, c.settings);
  const secrets = one.waypoints.flatMap((w) => w.resources[SECRET_TYPE_URL] ?? []);
  // Two extensions in use (idp on shop, staff Gateway-level): a client and an HMAC secret each.
  assert.equal(secrets.length, 4);
  assert.deepEqual(
    secrets,
    two.waypoints.flatMap((w) => w.resources[SECRET_TYPE_URL] ?? []),
  );
  const status = goldenFiles(one).get("status.yaml") ?? "";
  for (const s of secrets) {
    const value = String(
      (s.json as { genericSecret: { secret: { inlineString: string } } }).genericSecret.secret.inlineString,
    );
    assert.ok(!status.includes(value), `status holds the value of ${s.name}`);
  }
});
