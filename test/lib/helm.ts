// Renders the Helm chart (deploy/charts/waymark) with the helm that scripts/bootstrap-helm.sh installs,
// and reads the rendered objects, for the deploy tests and the chart end-to-end test.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "@waymark/devstack";
import { requireEnv } from "@waymark/testing";
import { parseAllDocuments } from "yaml";

export const CHART_DIR = join(REPO_ROOT, "deploy", "charts", "waymark");
export const VALUES_DIR = join(REPO_ROOT, "test", "deploy", "values");
export const RELEASE = "waymark";
export const NAMESPACE = "waymark-system";
/** The Kubernetes version the chart is rendered for (the test cluster's). */
export const KUBE_VERSION = "1.36.3";

const HINT = "run scripts/bootstrap-helm.sh (node scripts/test.ts deploy does it)";

export function helm(args: string[]): string {
  return execFileSync(requireEnv("WAYMARK_HELM", HINT), args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });
}

/** `helm template` of the chart with a values file of test/deploy/values (and extra --set flags). */
export function renderChart(valuesName: string, set: string[] = []): string {
  return helm([
    "template",
    RELEASE,
    CHART_DIR,
    "--namespace",
    NAMESPACE,
    "--kube-version",
    KUBE_VERSION,
    "--values",
    join(VALUES_DIR, `${valuesName}.yaml`),
    ...set.flatMap((s) => ["--set", s]),
  ]);
}

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are read loosely.
export type Obj = Record<string, any>;

export function parseObjects(rendered: string): Obj[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === "object");
}

export function find(objs: Obj[], kind: string, name: string): Obj {
  const o = objs.find((x) => x["kind"] === kind && x["metadata"]?.["name"] === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered chart`);
  return o;
}

/** The random parts of a rendering (generated passwords) replaced, so that goldens are stable. */
export function normalize(rendered: string): string {
  return rendered.replace(
    /^(# Source: waymark\/templates\/nats-auth\.yaml\n(?:.*\n)*?data:\n)((?: {2}.*\n)+)/m,
    (_m, head: string, data: string) => head + data.replace(/: ".*"$/gm, ': "<random>"'),
  );
}
