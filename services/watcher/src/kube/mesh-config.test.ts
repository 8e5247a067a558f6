// Istio's mesh config ConfigMap read by name, against a local plain-HTTP server that answers the GET
// like the API server (the ConfigMap, a new version, then 404): the initial read, a change on
// refresh, the published form (data.mesh only, no annotations), and removal when it is gone.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createLogger, type KubeObject, type ObjectRef } from "@waymark/api";
import type { SourceSink } from "../source.ts";
import { KubeClient } from "./client.ts";
import { fromKubeconfig } from "./connection.ts";
import { MeshConfigMap } from "./mesh-config.ts";

const dir = mkdtempSync(join(tmpdir(), "kube-mesh-config-test-"));
let server: Server;
let url = "";
/** What the server answers: a ConfigMap, or undefined for 404. */
let current: KubeObject | undefined;
const paths: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    paths.push(req.url ?? "");
    res.setHeader("content-type", "application/json");
    if (!current || req.url !== "/api/v1/namespaces/istio-system/configmaps/istio") {
      res.statusCode = 404;
      res.end(
        JSON.stringify({
          kind: "Status",
          status: "Failure",
          reason: "NotFound",
          code: 404,
          message: "not found",
        }),
      );
      return;
    }
    res.end(JSON.stringify(current));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(): KubeClient {
  const path = join(dir, "kubeconfig.json");
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
      "current-context": "ctx",
    }),
  );
  return new KubeClient(fromKubeconfig(path));
}

const configMap = (rv: string, mesh: string): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "istio",
      namespace: "istio-system",
      resourceVersion: rv,
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      managedFields: [{ manager: "kubectl" }],
    },
    data: { mesh, meshNetworks: "networks: {}" },
  }) as unknown as KubeObject;

/** A sink that records what it is told. */
function recorder() {
  const events: Array<["upsert", KubeObject] | ["remove", ObjectRef]> = [];
  const sink: SourceSink = {
    replaceAll: () => {},
    upsert: (o) => events.push(["upsert", o]),
    remove: (r) => events.push(["remove", r]),
    reportSourceProblem: () => {},
    clearSourceProblem: () => {},
  };
  return { events, sink };
}

test("read by name; published with data.mesh only; changes on refresh; removed on 404", async () => {
  const c = client();
  const mesh = new MeshConfigMap({
    client: c,
    log: createLogger("test", {}, () => {}),
    origin: "kube",
    namespace: "istio-system",
    refreshMs: 3_600_000,
  });
  try {
    current = configMap("1", "extensionProviders: []");
    const first = await mesh.initial();
    assert.deepEqual(first, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "istio", namespace: "istio-system" },
      data: { mesh: "extensionProviders: []" },
    });
    assert.deepEqual(paths, ["/api/v1/namespaces/istio-system/configmaps/istio"], "one GET by name, no list");
    const { events, sink } = recorder();
    mesh.start(sink);
    await mesh.refresh();
    assert.deepEqual(events, [], "the same resourceVersion is not published again");
    current = configMap("2", "extensionProviders: [{name: a}]");
    await mesh.refresh();
    assert.equal(events.length, 1);
    assert.deepEqual(events[0], [
      "upsert",
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "istio", namespace: "istio-system" },
        data: { mesh: "extensionProviders: [{name: a}]" },
      },
    ]);
    current = undefined;
    await mesh.refresh();
    await mesh.refresh();
    assert.deepEqual(events.slice(1), [
      ["remove", { group: "", kind: "ConfigMap", namespace: "istio-system", name: "istio" }],
    ]);
    current = configMap("3", "{}");
    await mesh.refresh();
    assert.equal(events.length, 3, "back again: published again");
  } finally {
    mesh.stop();
    c.close();
  }
});

test("absent at start: nothing to publish", async () => {
  const c = client();
  current = undefined;
  const mesh = new MeshConfigMap({
    client: c,
    log: createLogger("test", {}, () => {}),
    origin: "kube",
    namespace: "istio-system",
  });
  try {
    assert.equal(await mesh.initial(), undefined);
  } finally {
    mesh.stop();
    c.close();
  }
});
