// Runs Waymark's tests with node's test runner: `unit` (pure logic and service integration with
// real NATS/Envoy), `e2e` (whole control plane with real processes), `conformance` (the Gateway API
// mesh conformance tests through Waymark and Envoy), `deploy` (the Helm chart, its server-side dry run
// and the Dockerfiles), or all of them (default).
import { spawnSync } from "node:child_process";
import { existsSync, globSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skippedInTap, skipVerdict } from "./lib/skips.ts";
import {
  ensureConformance,
  ensureExtAuthz,
  ensureHelm,
  ensureImages,
  ensureJaeger,
  ensureKube,
  ensureNode,
  ensureOAuth2,
  ensureRateLimit,
  ensureToolchain,
} from "./lib/toolchain.ts";

const suites: Record<string, string[]> = {
  unit: [
    "scripts/lib/**/*.test.ts",
    "packages/*/src/**/*.test.ts",
    "tools/*/src/**/*.test.ts",
    "services/*/src/**/*.test.ts",
    "services/*/test/**/*.test.ts",
    "test/errors/**/*.test.ts",
  ],
  e2e: ["test/e2e/**/*.test.ts"],
  conformance: ["test/conformance/**/*.test.ts"],
  deploy: ["test/deploy/**/*.test.ts"],
  // Short mode; `pnpm test:chaos` runs the long one (CHAOS_CHANGES=1000).
  chaos: ["test/chaos/**/*.test.ts"],
  // The authorization differential test alone (it is in e2e too, with 200 pairs); `pnpm
  // test:authz-diff` runs the long mode (WAYMARK_AUTHZ_PAIRS=2000).
  "authz-diff": ["test/e2e/authz-differential.test.ts"],
};
const which = process.argv[2] ?? "all";
const patterns =
  which === "all"
    ? [
        ...suites["unit"]!,
        ...suites["e2e"]!,
        ...suites["conformance"]!,
        ...suites["deploy"]!,
        ...suites["chaos"]!,
      ]
    : suites[which];
if (!patterns) {
  console.error(`usage: node scripts/test.ts [unit|e2e|conformance|deploy|chaos|authz-diff|all]`);
  process.exit(2);
}
ensureToolchain();
if (which !== "unit") ensureJaeger();
// The servers the policies that call out are tested against (test/e2e/policy-rate-limit-global,
// policy-oauth2, policy-ext-auth): the rate limit service and Redis, Hydra and Chromium,
// oauth2-proxy and Istio's ext-authz sample.
if (which === "all" || which === "e2e") {
  ensureRateLimit();
  ensureOAuth2();
  ensureExtAuthz();
}
if (which === "all" || which === "conformance") ensureConformance();
// The chart (deploy: lint, goldens, Dockerfiles; e2e: the chart's configuration as processes).
if (which !== "unit" && which !== "conformance") ensureHelm();
// The images, built without a daemon: run with runc (deploy: test/deploy/images.test.ts) and
// installed with the chart onto a real node (e2e: test/e2e/node-helm.test.ts).
if (which === "all" || which === "deploy" || which === "e2e") ensureImages();
// The test cluster: watcher tests (unit), the kubernetes e2e tests, chaos, the chart's dry run, the
// conformance suite's Kubernetes run.
ensureKube();
// A real node (kubelet, kube-proxy, containerd) for test/e2e/node-*.test.ts.
if (which === "all" || which === "e2e") ensureNode();
// The tests against a test cluster that send traffic to its pods run in their own network namespace
// whose loopback holds the pods' addresses (scripts/pod-network.sh); the rest run as they are. They
// skip only when asked to (WAYMARK_SKIP_KUBE=1). A real node's tests (test/e2e/node-*.test.ts) are not
// among them: the kubelet, runc and kube-proxy need root in the host's network namespace.
const files = [...new Set(patterns.flatMap((p) => globSync(p)))].sort();
const inPodNetwork = (f: string) =>
  /^test\/e2e\/kubernetes[^/]*\.test\.ts$/.test(f) ||
  /^test\/conformance\/[^/]*kubernetes[^/]*\.test\.ts$/.test(f);
const runs = [
  { files: files.filter((f) => !inPodNetwork(f)), wrap: [] as string[] },
  { files: files.filter(inPodNetwork), wrap: [join(import.meta.dirname, "pod-network.sh")] },
].filter((r) => r.files.length > 0);
let status = 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
const skipped: string[] = [];
const tapDir = mkdtempSync(join(tmpdir(), "waymark-test-"));
for (const [i, run] of runs.entries()) {
  // spec to the terminal, TAP to a file: its summary lines are summed over the runs below.
  const tap = join(tapDir, `run-${i}.tap`);
  const [command, ...args] = [
    ...run.wrap,
    process.execPath,
    "--test",
    "--test-concurrency=2",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    "--disable-warning=ExperimentalWarning",
    ...run.files,
  ];
  const r = spawnSync(command!, args, { stdio: "inherit" });
  if (r.status !== 0) status = r.status ?? 1;
  const text = existsSync(tap) ? readFileSync(tap, "utf8") : "";
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  totals.passed += count("pass");
  totals.failed += count("fail") + count("cancelled");
  totals.skipped += count("skipped");
  skipped.push(...skippedInTap(text));
}
if (totals.failed === 0 && status !== 0) totals.failed = 1; // a run that died before its summary
console.log(`\ntotal: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
// A skipped describe() is not in TAP's "# skipped" count, but it is in the list.
const verdict = skipVerdict(process.env, Math.max(totals.skipped, skipped.length), skipped);
if (verdict.message) (verdict.fail ? console.error : console.log)(verdict.message);
if (verdict.fail && status === 0) status = 1;
process.exit(status);
