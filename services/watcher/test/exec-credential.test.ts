// A kubeconfig whose only credential is an exec plugin (client.authentication.k8s.io/v1), against a
// real API server: the plugin prints an ExecCredential with a ServiceAccount's token, and the
// informer lists and watches Services through it. The same kubeconfig without the exec stanza is
// refused (anonymous), so the test cannot pass unless the plugin's token is what authenticates.
import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLogger, type KubeObject } from "@waymark/api";
import { type KubeCluster, startKubeCluster, tempDir, waitFor } from "@waymark/testing";
import { KubeApiError, KubeClient } from "../src/kube/client.ts";
import { fromKubeconfig } from "../src/kube/connection.ts";
import { Informer } from "../src/kube/informer.ts";
import { type ResourceInfo, WATCHED } from "../src/kube/resources.ts";

const skip = process.env["WAYMARK_SKIP_KUBE"] === "1" ? "WAYMARK_SKIP_KUBE=1" : false;
const SERVICES = WATCHED.find((r) => r.kind === "Service") as ResourceInfo;
const NS = "exec";
const log = createLogger("exec-credential-test", {}, (line) => {
  if (process.env["WATCHER_TEST_LOGS"]) process.stderr.write(line);
});

describe("an exec credential plugin against a real API server", { timeout: 60_000, skip }, () => {
  let cluster: KubeCluster;
  let dir: string;
  let execKubeconfig: string;
  let noCredentialKubeconfig: string;
  let plugin: string;

  before(async () => {
    dir = tempDir("watcher-exec");
    cluster = await startKubeCluster({ logDir: dir, workloads: false });
    await cluster.kubectl(["create", "namespace", NS]);
    await cluster.kubectl(["-n", NS, "create", "serviceaccount", "reader"]);
    // Its own role: the aggregated `view` role would be empty without kube-controller-manager.
    await cluster.kubectl([
      "create",
      "clusterrole",
      "exec-reader",
      "--verb=get,list,watch",
      "--resource=services",
    ]);
    await cluster.kubectl([
      "create",
      "clusterrolebinding",
      "exec-reader",
      "--clusterrole=exec-reader",
      `--serviceaccount=${NS}:reader`,
    ]);
    // The ServiceAccount's kubeconfig gives the server and CA; its token moves into the plugin.
    const sa = JSON.parse(readFileSync(await cluster.serviceAccountKubeconfig(NS, "reader"), "utf8")) as {
      users: Array<{ name: string; user: Record<string, unknown> }>;
    };
    const token = sa.users[0]?.user["token"];
    assert.equal(typeof token, "string");
    writeFileSync(join(dir, "token"), String(token));
    plugin = join(dir, "credential-plugin.sh");
    const head =
      '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"';
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> "$0.runs"\nprintf '%s%s"}}' '${head}' "$(cat "$(dirname "$0")/token")"\n`,
    );
    chmodSync(plugin, 0o755);
    const withUser = (user: Record<string, unknown>) => ({
      ...sa,
      users: [{ name: sa.users[0]?.name, user }],
    });
    execKubeconfig = join(dir, "exec.kubeconfig");
    writeFileSync(
      execKubeconfig,
      JSON.stringify(
        withUser({
          exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" },
        }),
      ),
    );
    noCredentialKubeconfig = join(dir, "none.kubeconfig");
    writeFileSync(noCredentialKubeconfig, JSON.stringify(withUser({})));
  });
  after(async () => {
    await cluster?.stop();
  });

  const service = (name: string) =>
    cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: NS },
        spec: { ports: [{ port: 80 }] },
      }),
    });

  test("without the plugin the same kubeconfig is refused", async () => {
    const client = new KubeClient(fromKubeconfig(noCredentialKubeconfig));
    await assert.rejects(client.request("GET", `/api/v1/namespaces/${NS}/services`), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.ok(err.status === 401 || err.status === 403, `status ${err.status}`);
      return true;
    });
    client.close();
  });

  test("the informer lists and watches through the plugin's token", async () => {
    await service("a");
    const client = new KubeClient(fromKubeconfig(execKubeconfig));
    const names = new Set<string>();
    const inf = new Informer({
      client,
      resource: SERVICES,
      log,
      handlers: {
        onList(items: KubeObject[]) {
          names.clear();
          for (const o of items) if (o.metadata.namespace === NS) names.add(o.metadata.name);
        },
        onUpsert(o) {
          if (o.metadata.namespace === NS) names.add(o.metadata.name);
        },
        onDelete(o) {
          if (o.metadata.namespace === NS) names.delete(o.metadata.name);
        },
      },
    });
    try {
      await inf.start();
      assert.deepEqual([...names], ["a"], "the list came through");
      assert.equal(inf.lists, 1);
      await service("b");
      await waitFor("b seen through the watch", () => names.has("b"), 10_000, 20);
      assert.equal(inf.lists, 1, "b arrived as a watch event, not a relist");
      const runs = readFileSync(`${plugin}.runs`, "utf8").split("\n").filter(Boolean).length;
      assert.ok(runs >= 1, "the plugin ran");
    } finally {
      await inf.stop();
      client.close();
    }
  });
});
