// Every rendering of the chart is accepted by a real kube-apiserver (server-side dry run: admission,
// validation against the built-in types and the CRDs), with the Gateway API CRDs and deploy/crds
// installed as the README says.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT } from "@waymark/devstack";
import { type KubeCluster, startKubeCluster, tempDir } from "@waymark/testing";
import { NAMESPACE, parseObjects, renderChart, VALUES_DIR } from "../lib/helm.ts";

let cluster: KubeCluster;

before(async () => {
  cluster = await startKubeCluster({
    logDir: tempDir("deploy-dry-run"),
    workloads: false,
    manifests: [join(REPO_ROOT, "deploy", "crds")],
  });
  await cluster.kubectl(["create", "namespace", NAMESPACE]);
});
after(async () => {
  await cluster?.stop();
});

for (const set of readdirSync(VALUES_DIR).map((f) => f.replace(/\.yaml$/, ""))) {
  test(`${set}: kubectl apply --dry-run=server accepts every object`, { timeout: 60_000 }, async () => {
    const rendered = renderChart(set);
    const objs = parseObjects(rendered);
    const out = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: rendered });
    const lines = out.trim().split("\n");
    assert.equal(lines.length, objs.length, out);
    for (const line of lines) assert.match(line, /(created|configured|unchanged) \(server dry run\)$/, line);
  });
}
