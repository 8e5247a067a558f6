// Real external authorization servers for the ext_authz tests, built by scripts/bootstrap-ext-authz.sh:
//   - oauth2-proxy answering Envoy's HTTP check: a user of its htpasswd file (basic auth) gets 200 with
//     X-Auth-Request-User (--set-xauthrequest; the upstream is static://200, as Envoy allows only a
//     200), anyone else 401 (--api-route=^/ answers 401 instead of a sign-in page). Its OIDC provider
//     is configured with discovery off and is never contacted: no login flow is used.
//   - Istio's sample ext-authz server (gRPC and HTTP check APIs): allows requests with
//     `x-ext-authz: allow`, adds x-ext-authz-check-result and x-ext-authz-check-received (the check
//     request's attributes, context extensions included), denies others with 403.
// Each runs as a process on loopback; kill() is SIGKILL, start() brings it back on the same port.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";

const HINT = 'run `eval "$(scripts/bootstrap-ext-authz.sh)"` (node scripts/test.ts does it)';

export interface AuthServer {
  /** The port Envoy calls (HTTP for oauth2-proxy, gRPC for the Istio sample). */
  port: number;
  /** The Istio sample's HTTP check port (its other API). */
  httpPort?: number;
  proc(): Proc;
  /** Starts it (again) on the same port and waits until it answers. */
  start(): Promise<void>;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

function server(name: string, port: number, spawn: () => Proc, ready: () => Promise<boolean>): AuthServer {
  let proc: Proc | undefined;
  const self: AuthServer = {
    port,
    proc: () => proc!,
    async start() {
      proc = spawn();
      const p = proc;
      await waitFor(`${name} listening`, async () => {
        if (p.child.exitCode !== null) throw new Error(`${name} exited:\n${p.log().slice(-2000)}`);
        return ready();
      });
    },
    async kill() {
      await proc?.kill();
    },
    async stop() {
      await proc?.stop();
    },
  };
  return self;
}

export const OAUTH2_USER = { name: "alice", password: "wonderland" };

export async function startOauth2Proxy(o: { logDir: string }): Promise<AuthServer> {
  const bin = requireEnv("WAYMARK_OAUTH2_PROXY", HINT);
  const port = await freePort();
  const htpasswd = join(o.logDir, "htpasswd");
  const sha = createHash("sha1").update(OAUTH2_USER.password).digest("base64");
  writeFileSync(htpasswd, `${OAUTH2_USER.name}:{SHA}${sha}\n`);
  const nowhere = "http://127.0.0.1:9";
  const args = [
    `--http-address=127.0.0.1:${port}`,
    "--upstream=static://200",
    "--reverse-proxy",
    "--set-xauthrequest",
    `--htpasswd-file=${htpasswd}`,
    "--api-route=^/",
    "--email-domain=*",
    "--provider=oidc",
    "--skip-oidc-discovery",
    `--oidc-issuer-url=${nowhere}/`,
    `--login-url=${nowhere}/login`,
    `--redeem-url=${nowhere}/token`,
    `--oidc-jwks-url=${nowhere}/jwks`,
    "--client-id=waymark",
    "--client-secret=unused",
    "--cookie-secret=0123456789abcdef0123456789abcdef",
  ];
  const s = server(
    "oauth2-proxy",
    port,
    () => startProcess({ name: "oauth2-proxy", command: bin, args, logDir: o.logDir }),
    async () => (await fetch(`http://127.0.0.1:${port}/ping`).catch(() => undefined))?.ok === true,
  );
  await s.start();
  return s;
}

export async function startIstioExtAuthz(o: { logDir: string }): Promise<AuthServer> {
  const bin = requireEnv("WAYMARK_EXT_AUTHZ", HINT);
  const grpc = await freePort();
  const http = await freePort();
  const s = server(
    "istio-extauthz",
    grpc,
    () =>
      startProcess({
        name: "istio-extauthz",
        command: bin,
        args: ["-grpc", String(grpc), "-http", String(http)],
        logDir: o.logDir,
      }),
    () => listening(grpc),
  );
  s.httpPort = http;
  await s.start();
  await waitFor("istio-extauthz HTTP listening", () => listening(http));
  return s;
}
