// TrafficPolicy oauth2 (GatewayExtension OAuth2) end to end: a real browser (Debian's Chromium,
// headless, driven by playwright-core), a real OpenID Connect provider (Ory Hydra, on SQLite) and a
// real Envoy. The browser opens httpbin2 through the waypoint (its host mapped to the ztunnel
// stand-in, so the Host is httpbin2:8000) and is sent to Hydra's login; the test's login and consent
// app accepts through Hydra's admin API; Hydra sends the browser back to the callback, where Envoy
// exchanges the code at the token endpoint through the hydra Service (an EndpointSlice pointing at
// Hydra on loopback) and sets the session cookies; the page is go-httpbin's /headers showing the
// forwarded access token. A second navigation goes straight through, the logout path clears the
// cookies, an Invalid extension fails closed (500, status naming the field), Hydra SIGKILLed in the
// middle of a sign-in fails it closed (the backend never reached) while a signed-in session goes on,
// Hydra back signs the browser in again, and Envoy never NACKs.
//
// The browser speaks TLS, as to an ingress in front of the mesh: https://httpbin2:8000 is a small
// TLS-terminating ingress (a throwaway certificate) that forwards plain HTTP to the ztunnel stand-in
// with x-forwarded-proto: https (the waypoint trusts one hop: WAYMARK_XFF_TRUSTED_HOPS=1), so the
// Secure session cookies Envoy sets, and the ones it deletes at logout, are on a secure origin. Hydra's
// public port speaks plain HTTP to Envoy, as a Service of the mesh would (ztunnel's HBONE encrypts it
// there); the browser reaches it at https://hydra:4444 through a TLS front, as the CRD asks https.
import assert from "node:assert/strict";
import { execFile as execFileCb } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { promisify } from "node:util";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { freePort, type Proc, startProcess, waitFor } from "@waymark/testing";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult } from "../lib/http.ts";

const execFile = promisify(execFileCb);
const GW = "gateway.networking.k8s.io";
const CLIENT_ID = "httpbin2-web";
const CLIENT_SECRET = "e2e-only-client-secret-3f9a";
const APP = "https://httpbin2:8000";
const IDP = "https://hydra:4444";

function doc(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = "gateway.kgateway.dev/v1alpha1",
) {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}

describe("standalone: TrafficPolicy oauth2 (GatewayExtension OAuth2) with Hydra and Chromium", {
  timeout: 300_000,
}, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let hydra: Proc;
  let startHydra: () => Promise<void>;
  let hydraPublic: number;
  let hydraAdmin: number;
  let tlsFront: TlsServer;
  let tlsPort: number;
  let ingress: ReturnType<typeof createHttpsServer>;
  let ingressPort: number;
  /** Set by a test: the next callback request waits at the ingress until it calls `release`. */
  let holdCallback: ((release: () => void) => void) | undefined;
  let loginApp: Server;
  let browser: Browser;
  let context: BrowserContext;
  const logins: string[] = [];
  let acceptLogins = true;
  /** The browser's cookies for httpbin2 (Secure ones too, which a lookup by the http URL leaves out). */
  const appCookies = async () =>
    (await context.cookies())
      .filter((c) => c.domain === "httpbin2")
      .map((c) => `${c.name}${c.secure ? "" : "(not secure)"}`);
  const consents: string[] = [];

  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${hydraAdmin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    assert.ok(r.ok, `hydra admin ${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const show = (r: HttpResult) => `${r.status} ${String(r.headers.location ?? "")} ${r.body.slice(0, 200)}`;
  const accepted = async (name: string, kind = "TrafficPolicy") => {
    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind, namespace: "httpbin", name }),
    );
    const conditions =
      kind === "TrafficPolicy"
        ? (st?.status["ancestors"] as Array<{ conditions: unknown[] }> | undefined)?.[0]?.conditions
        : (st?.status["conditions"] as unknown[] | undefined);
    return (conditions as Array<{ type: string; reason: string; message: string }> | undefined)?.find(
      (c) => c.type === "Accepted",
    );
  };

  before(async () => {
    const hydraBin = process.env.WAYMARK_HYDRA;
    const chromiumBin = process.env.WAYMARK_CHROMIUM;
    assert.ok(
      hydraBin && chromiumBin,
      'WAYMARK_HYDRA / WAYMARK_CHROMIUM unset: eval "$(scripts/bootstrap-oauth2.sh)"',
    );
    guide = await startGuideStack("e2e-policy-oauth2", { serviceEnv: { WAYMARK_XFF_TRUSTED_HOPS: "1" } });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);

    // The login and consent app Hydra sends the browser to: accepts every challenge for "alice".
    loginApp = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://login.test");
      const answer = async () => {
        if (url.pathname === "/login") {
          const challenge = url.searchParams.get("login_challenge") ?? "";
          if (!acceptLogins) return undefined;
          logins.push(challenge);
          const q = `login_challenge=${encodeURIComponent(challenge)}`;
          await admin("GET", `/admin/oauth2/auth/requests/login?${q}`);
          return admin("PUT", `/admin/oauth2/auth/requests/login/accept?${q}`, { subject: "alice" });
        }
        const challenge = url.searchParams.get("consent_challenge") ?? "";
        consents.push(challenge);
        const q = `consent_challenge=${encodeURIComponent(challenge)}`;
        const asked = await admin("GET", `/admin/oauth2/auth/requests/consent?${q}`);
        return admin("PUT", `/admin/oauth2/auth/requests/consent/accept?${q}`, {
          grant_scope: asked.requested_scope,
          grant_access_token_audience: asked.requested_access_token_audience,
        });
      };
      answer().then(
        (r) =>
          r === undefined
            ? res.writeHead(200, { "content-type": "text/plain" }).end("sign in here")
            : res.writeHead(302, { location: String(r.redirect_to) }).end(),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    });
    const loginPort = await freePort();
    await new Promise<void>((ok) => loginApp.listen(loginPort, "127.0.0.1", ok));

    hydraPublic = await freePort();
    hydraAdmin = await freePort();
    // Hydra keeps its clients and keys in a SQLite file, so it can be killed and come back with them.
    const hydraEnv = {
      DSN: `sqlite://${join(guide.logDir, "hydra.sqlite")}?_fk=true`,
      SERVE_PUBLIC_HOST: "127.0.0.1",
      SERVE_PUBLIC_PORT: String(hydraPublic),
      SERVE_ADMIN_HOST: "127.0.0.1",
      SERVE_ADMIN_PORT: String(hydraAdmin),
      URLS_SELF_ISSUER: `${IDP}/`,
      URLS_LOGIN: `http://127.0.0.1:${loginPort}/login`,
      URLS_CONSENT: `http://127.0.0.1:${loginPort}/consent`,
      SECRETS_SYSTEM: "e2e-only-system-secret-0123456789",
      // --dev makes Hydra's own cookies non-Secure; its default SameSite=None needs Secure.
      SERVE_COOKIES_SAME_SITE_MODE: "Lax",
      LOG_LEVEL: "info",
    };
    await execFile(hydraBin, ["migrate", "sql", "up", "-e", "--yes"], {
      env: { ...process.env, ...hydraEnv },
    });
    startHydra = async () => {
      hydra = startProcess({
        name: "hydra",
        command: hydraBin,
        args: ["serve", "all", "--dev", "--sqa-opt-out"],
        logDir: guide.logDir,
        env: hydraEnv,
      });
      await waitFor("hydra ready", async () => {
        try {
          return (await fetch(`http://127.0.0.1:${hydraAdmin}/health/ready`)).ok;
        } catch {
          return false;
        }
      });
    };
    await startHydra();
    await admin("POST", "/admin/clients", {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      scope: "openid offline",
      redirect_uris: [`${APP}/oauth2/redirect`],
      token_endpoint_auth_method: "client_secret_post",
    });

    // The browser's way to Hydra: TLS with a throwaway certificate, then Hydra's public port.
    await execFile(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"].concat(
        [
          "-keyout",
          "idp.key",
          "-out",
          "idp.crt",
          "-subj",
          "/CN=hydra",
          "-addext",
          "subjectAltName=DNS:hydra,DNS:httpbin2",
        ],
      ),
      { cwd: guide.logDir },
    );
    const tlsFiles = {
      key: readFileSync(join(guide.logDir, "idp.key")),
      cert: readFileSync(join(guide.logDir, "idp.crt")),
    };
    tlsFront = createTlsServer(tlsFiles, (s) => {
      const up = connect(hydraPublic, "127.0.0.1");
      s.pipe(up).pipe(s);
      up.on("error", () => s.destroy());
      s.on("error", () => up.destroy());
    });
    tlsPort = await freePort();
    await new Promise<void>((ok) => tlsFront.listen(tlsPort, "127.0.0.1", ok));
    // The ingress: TLS off, plain HTTP on to the stand-in, the scheme said in x-forwarded-proto.
    ingress = createHttpsServer(tlsFiles, (req, res) => {
      const forward = () => {
        const up = httpRequest(
          {
            host: "127.0.0.1",
            port: guide.standinPort("httpbin2"),
            method: req.method,
            path: req.url,
            headers: { ...req.headers, "x-forwarded-proto": "https", "x-forwarded-for": "127.0.0.1" },
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on("error", (e) => res.writeHead(502).end(String(e)));
        req.pipe(up);
      };
      const hold = holdCallback;
      if (hold && req.url?.startsWith("/oauth2/redirect?")) {
        holdCallback = undefined;
        hold(forward);
      } else forward();
    });
    ingressPort = await freePort();
    await new Promise<void>((ok) => ingress.listen(ingressPort, "127.0.0.1", ok));

    // Hydra as a Service of the namespace (no waypoint label: nothing routes to it), its client secret.
    write(
      "40-hydra.yaml",
      [
        doc("Service", "hydra", { clusterIP: "10.96.0.44", ports: [{ name: "public", port: 4444 }] }, "v1"),
        `${JSON.stringify({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: "hydra-local",
            namespace: "httpbin",
            labels: { "kubernetes.io/service-name": "hydra" },
          },
          addressType: "IPv4",
          ports: [{ name: "public", port: hydraPublic }],
          endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
        })}\n`,
        `${JSON.stringify({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "hydra-client", namespace: "httpbin" },
          type: "Opaque",
          data: { "client-secret": Buffer.from(CLIENT_SECRET).toString("base64") },
        })}\n`,
      ].join("---\n"),
    );

    browser = await chromium.launch({
      executablePath: chromiumBin,
      args: [
        "--no-sandbox",
        `--host-resolver-rules=MAP httpbin2:8000 127.0.0.1:${ingressPort}, MAP hydra:4444 127.0.0.1:${tlsPort}`,
        // The throwaway certificate of the ingress and of Hydra's TLS front.
        "--ignore-certificate-errors",
      ],
    });
    context = await browser.newContext();
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await browser?.close();
    await nc?.close();
    await guide?.stop();
    await hydra?.stop();
    tlsFront?.close();
    ingress?.close();
    loginApp?.close();
  });

  test("the browser signs in at Hydra and lands on httpbin2 with the forwarded access token", async () => {
    assert.equal((await guide.request("httpbin2", "/headers")).status, 200, "no policy yet");
    write(
      "41-extension.yaml",
      doc("GatewayExtension", "hydra", {
        type: "OAuth2",
        oauth2: {
          authorizationEndpoint: `${IDP}/oauth2/auth`,
          tokenEndpoint: `${IDP}/oauth2/token`,
          backendRef: { name: "hydra", port: 4444 },
          credentials: { clientID: CLIENT_ID, clientSecretRef: { name: "hydra-client" } },
          redirectURI: `${APP}/oauth2/redirect`,
          scopes: ["openid", "offline"],
          forwardAccessToken: true,
        },
      }),
    );
    write(
      "50-oauth2.yaml",
      doc("TrafficPolicy", "login", {
        targetRefs: [{ group: GW, kind: "HTTPRoute", name: "httpbin2" }],
        oauth2: { extensionRef: { name: "hydra" } },
      }),
    );
    // Without a session: sent to the provider's authorization endpoint.
    const redirect = await waitFor("the policy in force (302 to Hydra)", async () => {
      const r = await guide.request("httpbin2", "/headers");
      return r.status === 302 ? r : undefined;
    });
    const location = new URL(String(redirect.headers.location));
    assert.equal(`${location.origin}${location.pathname}`, `${IDP}/oauth2/auth`, show(redirect));
    assert.equal(location.searchParams.get("client_id"), CLIENT_ID);
    assert.equal(location.searchParams.get("redirect_uri"), `${APP}/oauth2/redirect`);
    assert.equal((await guide.request("httpbin3", "/headers")).status, 200, "another route is not protected");
    assert.equal((await accepted("login"))?.reason, "Valid");
    assert.equal((await accepted("hydra", "GatewayExtension"))?.reason, "Accepted");

    const page = await context.newPage();
    const res = await page.goto(`${APP}/headers`);
    assert.ok(res, "no response");
    const body = (await page.locator("body").textContent()) ?? "";
    assert.equal(res.status(), 200, body.slice(0, 300));
    assert.equal(new URL(page.url()).host, "httpbin2:8000", page.url());
    assert.equal(logins.length, 1, "Hydra asked the login app once");
    assert.equal(consents.length, 1, "and the consent app once");
    const headers = (JSON.parse(body) as { headers: Record<string, string[]> }).headers;
    const auth = headers.Authorization?.[0] ?? "";
    assert.match(auth, /^Bearer \S+/, "the access token forwarded to the backend");
    // The token is Hydra's: its introspection says active, for our client and alice.
    const form = new URLSearchParams({ token: auth.slice("Bearer ".length) });
    const intro = (await (
      await fetch(`http://127.0.0.1:${hydraAdmin}/admin/oauth2/introspect`, { method: "POST", body: form })
    ).json()) as Record<string, unknown>;
    assert.equal(intro.active, true, JSON.stringify(intro));
    assert.equal(intro.client_id, CLIENT_ID);
    assert.equal(intro.sub, "alice");
    const names = await appCookies();
    for (const n of ["BearerToken", "OauthHMAC", "OauthExpires"])
      assert.ok(names.includes(n), `cookie ${n} set (have ${names.join(", ")})`);
    await page.close();
  });

  test("an extension Waymark cannot program fails closed: 500, Invalid naming the field", async () => {
    write(
      "42-discovery.yaml",
      doc("GatewayExtension", "discovery", {
        type: "OAuth2",
        oauth2: {
          issuerURI: `${IDP}/`,
          backendRef: { name: "hydra", port: 4444 },
          credentials: { clientID: CLIENT_ID, clientSecretRef: { name: "hydra-client" } },
        },
      }),
    );
    write(
      "51-broken.yaml",
      doc("TrafficPolicy", "broken", {
        targetRefs: [{ group: GW, kind: "HTTPRoute", name: "httpbin3" }],
        oauth2: { extensionRef: { name: "discovery" } },
      }),
    );
    const r = await waitFor("httpbin3 answering 500", async () => {
      const x = await guide.request("httpbin3", "/headers");
      return x.status === 500 ? x : undefined;
    });
    assert.match(r.body, /security policy/);
    const c = await waitFor("the policy Invalid", async () => {
      const a = await accepted("broken");
      return a?.reason === "Invalid" ? a : undefined;
    });
    assert.match(c.message, /oauth2\.issuerURI/);
    const e = await accepted("discovery", "GatewayExtension");
    assert.equal(e?.reason, "Invalid");
    for (const m of [c.message, e?.message ?? ""])
      assert.ok(!m.includes(CLIENT_SECRET), "no secret in status");
    rmSync(join(guide.dir, "51-broken.yaml"));
    await waitFor(
      "httpbin3 back to 200",
      async () => (await guide.request("httpbin3", "/headers")).status === 200,
    );
  });

  // After the invalid policy came and went (two translations, the HMAC secret derived again each time).
  test("a second navigation goes straight through; the logout path clears the session", async () => {
    const page = await context.newPage();
    const res = await page.goto(`${APP}/headers`);
    assert.ok(res);
    assert.equal(res.status(), 200);
    assert.equal(res.request().redirectedFrom(), null, "no redirect with a session");
    assert.equal(logins.length, 1, "no second login");
    // A request without the cookies is still sent to Hydra: the session is the browser's.
    assert.equal((await guide.request("httpbin2", "/headers")).status, 302);

    const before = (await context.cookies()).find((c) => c.name === "BearerToken")?.value;
    // Logging out: Envoy deletes the session cookies and sends the browser to /, which, without a
    // session, goes to Hydra's login again; the login app shows its page this time instead of
    // signing in, so the browser stops there and what is left can be looked at.
    acceptLogins = false;
    const seen: Array<{ url: string; status: number; cookies: string[] }> = [];
    page.on("response", async (r) =>
      seen.push({
        url: r.url(),
        status: r.status(),
        cookies: (await r.headersArray()).filter((h) => h.name === "set-cookie").map((h) => h.value),
      }),
    );
    const stopped = await page.goto(`${APP}/logout`);
    assert.match((await stopped?.text()) ?? "", /sign in here/, page.url());
    const logout = seen.find((r) => r.url === `${APP}/logout`);
    assert.equal(logout?.status, 302, JSON.stringify(seen));
    const left = await appCookies();
    for (const n of ["BearerToken", "OauthHMAC", "OauthExpires"]) {
      assert.ok(
        logout?.cookies.some((c) => c.startsWith(`${n}=deleted;`)),
        `the logout response deletes ${n}`,
      );
      assert.ok(!left.includes(n), `cookie ${n} cleared (have ${left.join(", ")})`);
    }
    assert.ok(
      seen.some((r) => r.url === `${APP}/` && r.status === 302),
      "without a session / is sent to sign in",
    );
    acceptLogins = true;
    // Signing in again: Hydra's login once more, a new session.
    const again = await page.goto(`${APP}/headers`);
    assert.ok(again);
    assert.equal(again.status(), 200);
    assert.notEqual(again.request().redirectedFrom(), null, "sent through the sign-in again");
    assert.equal(logins.length, 2, "a second login after logging out");
    const after = (await context.cookies()).find((c) => c.name === "BearerToken")?.value;
    assert.ok(after && after !== before, "a new access token");
    await page.close();
  });

  test("Hydra SIGKILLed mid sign-in: the callback fails closed, a session goes on; Hydra back: sign-in works", {
    timeout: 90_000,
  }, async () => {
    // A browser with a session: the session cookies are Envoy's own (HMAC), checked without Hydra.
    const signedIn = await context.newPage();
    // A browser without one, held at the ingress on its way to the callback (Hydra has sent it back
    // with a code) while Hydra dies.
    const fresh = await browser.newContext();
    const page = await fresh.newPage();
    let held: (() => void) | undefined;
    const atCallback = new Promise<void>((reached) => {
      holdCallback = (release) => {
        held = release;
        reached();
      };
    });
    const loginsBefore = logins.length;
    const navigation = page.goto(`${APP}/headers`);
    await atCallback;
    assert.equal(logins.length, loginsBefore + 1, "Hydra signed the new browser in");
    await hydra.kill();
    held!();
    const failed = await navigation;
    assert.ok(failed);
    const failedBody = await failed.text();
    assert.equal(failed.status(), 401, `the code cannot be exchanged: ${failedBody.slice(0, 200)}`);
    assert.doesNotMatch(failedBody, /"headers"/, "the backend is never reached");
    assert.ok(!(await fresh.cookies()).some((c) => c.name === "BearerToken"), "no session without a token");
    const ok = await signedIn.goto(`${APP}/headers`);
    assert.equal(ok?.status(), 200, "a signed-in session does not need Hydra");
    assert.equal(
      (await guide.request("httpbin2", "/headers")).status,
      302,
      "no session: still sent to sign in",
    );

    // Hydra back on its ports, with its database: the new browser signs in.
    await startHydra();
    const back = await page.goto(`${APP}/headers`);
    assert.ok(back);
    const body = await back.text();
    assert.equal(back.status(), 200, body.slice(0, 300));
    assert.match(body, /"Authorization": \[\s*"Bearer /, "the access token forwarded to the backend");
    await signedIn.close();
    await fresh.close();
  });

  test("the client secret is in no log of Waymark or Envoy", () => {
    for (const f of ["watcher.log", "translator.log", "xds-server-0.log", "envoy-waypoint.log"]) {
      const text = readFileSync(join(guide.logDir, f), "utf8");
      assert.ok(text.length > 0, `${f} is empty`);
      assert.ok(!text.includes(CLIENT_SECRET), `${f} holds the client secret`);
    }
  });

  test("Envoy never NACKed", async () => {
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
