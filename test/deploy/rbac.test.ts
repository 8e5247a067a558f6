// The chart's watcher RBAC and GatewayClass are the same as the plain manifests in deploy/ (which the
// Kubernetes tests apply): the same rules, verb for verb, and the same class.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "@waymark/devstack";
import { parseObjects, RELEASE, renderChart } from "../lib/helm.ts";

const plain = parseObjects(readFileSync(join(REPO_ROOT, "deploy", "rbac.yaml"), "utf8"));
const chart = parseObjects(renderChart("default"));
const rulesOf = (objs: typeof chart, kind: string) => {
  const found = objs.filter((o) => o["kind"] === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!["rules"];
};

test("the watcher's ClusterRole rules equal deploy/rbac.yaml's", () => {
  assert.deepEqual(rulesOf(chart, "ClusterRole"), rulesOf(plain, "ClusterRole"));
});

test("the watcher's Role (leader-election Lease) rules equal deploy/rbac.yaml's", () => {
  assert.deepEqual(rulesOf(chart, "Role"), rulesOf(plain, "Role"));
});

test("both bind their roles to the watcher's ServiceAccount only", () => {
  for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
    const b = chart.find((o) => o["kind"] === kind)!;
    assert.deepEqual(b["subjects"], [
      { kind: "ServiceAccount", name: `${RELEASE}-watcher`, namespace: "waymark-system" },
    ]);
  }
});

test("the chart's GatewayClass is deploy/gatewayclass.yaml's", () => {
  const [want] = parseObjects(readFileSync(join(REPO_ROOT, "deploy", "gatewayclass.yaml"), "utf8"));
  const got = chart.find((o) => o["kind"] === "GatewayClass")!;
  assert.equal(got["metadata"]["name"], want!["metadata"]["name"]);
  assert.deepEqual(got["metadata"]["annotations"], want!["metadata"]["annotations"]);
  assert.deepEqual(got["spec"], want!["spec"]);
});
