// The client authenticates through the kubeconfig as @kubernetes/client-node reads it: an exec
// credential plugin (run once for concurrent requests, its token on requests and watches), a static
// token, a tokenFile, and a plugin that fails. Against a local plain-HTTP server that records the
// Authorization header of each request (the real API server is in test/exec-credential.test.ts).
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SourceError } from "../errors.ts";
import { KubeApiError, KubeClient, type WatchEvent } from "./client.ts";
import { fromKubeconfig, inCluster } from "./connection.ts";

const dir = mkdtempSync(join(tmpdir(), "kube-client-test-"));
let server: Server;
let url = "";
const seen: Array<{ path: string; authorization: string | undefined; port: number | undefined }> = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization, port: req.socket.remotePort });
    res.setHeader("content-type", "application/json");
    if (req.url?.includes("watch=1")) {
      res.end(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } })}\n`);
      return;
    }
    res.end(JSON.stringify({ kind: "List", items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig whose only credential is `user` (plain HTTP needs insecure-skip-tls-verify). */
function kubeconfig(name: string, user: Record<string, unknown>): string {
  const path = join(dir, `${name}.kubeconfig.json`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
      "current-context": "ctx",
    }),
  );
  return path;
}

/** An exec plugin (a shell script beside the kubeconfigs) that logs each run and prints `token`. */
function plugin(name: string, token: string, exitCode = 0): string {
  const path = join(dir, name);
  const credential = JSON.stringify({
    apiVersion: "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    status: { token },
  });
  writeFileSync(
    path,
    exitCode === 0
      ? `#!/bin/sh\necho run >> "$0.runs"\nprintf '%s' '${credential}'\n`
      : `#!/bin/sh\necho "plugin refused" >&2\nexit ${exitCode}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
const runs = (pluginPath: string) =>
  readFileSync(`${pluginPath}.runs`, "utf8").split("\n").filter(Boolean).length;

const since = (n: number) => seen.slice(n).map((s) => s.authorization);

describe("KubeClient authentication through the kubeconfig", () => {
  test("an exec plugin's token is sent on requests and watches; concurrent requests run it once", async () => {
    const exe = plugin("exec-ok.sh", "exec-token-1");
    // A relative command with a slash runs from the kubeconfig's folder, as kubectl does.
    const kc = kubeconfig("exec", {
      exec: {
        apiVersion: "client.authentication.k8s.io/v1",
        command: "./exec-ok.sh",
        interactiveMode: "Never",
      },
    });
    const client = new KubeClient(fromKubeconfig(kc));
    const n = seen.length;
    await Promise.all([1, 2, 3].map(() => client.request("GET", "/api/v1/services")));
    const events: WatchEvent[] = [];
    await client.watch("/api/v1/services", {}, (e) => events.push(e), new AbortController().signal);
    client.close();
    assert.deepEqual(since(n), Array(4).fill("Bearer exec-token-1"));
    assert.deepEqual(
      events.map((e) => e.type),
      ["ADDED"],
    );
    assert.equal(
      runs(exe),
      1,
      "the credential is cached (no expiry) and fetched once for concurrent requests",
    );
  });

  test("an exec plugin that fails makes the request fail with a transport error (retried by informers)", async () => {
    const exe = plugin("exec-fail.sh", "", 3);
    const client = new KubeClient(
      fromKubeconfig(
        kubeconfig("exec-fail", { exec: { apiVersion: "client.authentication.k8s.io/v1", command: exe } }),
      ),
    );
    const n = seen.length;
    await assert.rejects(client.request("GET", "/api/v1/services"), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.status, 0);
      assert.match(err.message, /plugin refused/);
      return true;
    });
    assert.equal(seen.length, n, "nothing was sent without credentials");
    client.close();
  });

  test("a static token and a tokenFile (relative to the kubeconfig, trailing newline) are sent", async () => {
    writeFileSync(join(dir, "token.txt"), "file-token\n");
    const a = new KubeClient(fromKubeconfig(kubeconfig("token", { token: "static-token" })));
    const b = new KubeClient(fromKubeconfig(kubeconfig("token-file", { tokenFile: "token.txt" })));
    const n = seen.length;
    await a.request("GET", "/api");
    await b.request("GET", "/api");
    await a.request("GET", "/api");
    a.close();
    b.close();
    assert.deepEqual(since(n), ["Bearer static-token", "Bearer file-token", "Bearer static-token"]);
    assert.equal(seen[n]?.port, seen[n + 2]?.port, "a client keeps its connection alive between requests");
  });

  test("a kubeconfig without the named context, cluster or user is refused at load", () => {
    const kc = kubeconfig("ok", { token: "t" });
    assert.throws(() => fromKubeconfig(kc, "nope"), SourceError);
    const doc = JSON.parse(readFileSync(kc, "utf8")) as { users: unknown[] };
    doc.users = [];
    const noUser = join(dir, "no-user.json");
    writeFileSync(noUser, JSON.stringify(doc));
    assert.throws(() => fromKubeconfig(noUser), /no user named "u"/);
    assert.throws(() => fromKubeconfig(join(dir, "missing.json")), /cannot read kubeconfig/);
  });

  test("in a pod: the service's address (IPv6 in brackets, port 443 by default), CA and token file", () => {
    const saved = {
      host: process.env["KUBERNETES_SERVICE_HOST"],
      port: process.env["KUBERNETES_SERVICE_PORT"],
    };
    const restore = (k: string, v: string | undefined) => {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    };
    try {
      delete process.env["KUBERNETES_SERVICE_HOST"];
      assert.throws(() => inCluster(dir), /not in a cluster/);
      process.env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
      delete process.env["KUBERNETES_SERVICE_PORT"];
      assert.throws(() => inCluster(dir), /cannot read .*ca\.crt/, "no CA: refused at start");
      const sa = join(dir, "var/run/secrets/kubernetes.io/serviceaccount");
      mkdirSync(sa, { recursive: true });
      writeFileSync(join(sa, "ca.crt"), "not used here");
      writeFileSync(join(sa, "token"), "pod-token");
      const c = inCluster(dir);
      assert.equal(c.server, "https://[fd00::1]:443");
      assert.equal(c.description, "in-cluster");
      assert.equal(c.config.getCurrentUser()?.authProvider?.config?.tokenFile, join(sa, "token"));
    } finally {
      restore("KUBERNETES_SERVICE_HOST", saved.host);
      restore("KUBERNETES_SERVICE_PORT", saved.port);
    }
  });
});
