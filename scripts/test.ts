// Runs Waymark's tests with node's test runner: `unit` (pure logic and service integration with
// real NATS/Envoy), `e2e` (whole control plane with real processes), `conformance` (the Gateway API
// mesh conformance tests through Waymark and Envoy), `deploy` (the Helm chart, its server-side dry run
// and the Dockerfiles), or all of them (default).
import { spawnSync } from "node:child_process";
import { ensureConformance, ensureHelm, ensureJaeger, ensureKube, ensureToolchain } from "./lib/toolchain.ts";

const suites: Record<string, string[]> = {
  unit: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "services/*/test/**/*.test.ts"],
  e2e: ["test/e2e/**/*.test.ts"],
  conformance: ["test/conformance/**/*.test.ts"],
  deploy: ["test/deploy/**/*.test.ts"],
};
const which = process.argv[2] ?? "all";
const patterns =
  which === "all"
    ? [...suites["unit"]!, ...suites["e2e"]!, ...suites["conformance"]!, ...suites["deploy"]!]
    : suites[which];
if (!patterns) {
  console.error(`usage: node scripts/test.ts [unit|e2e|conformance|deploy|all]`);
  process.exit(2);
}
ensureToolchain();
if (which !== "unit") ensureJaeger();
if (which === "all" || which === "conformance") ensureConformance();
// The chart (deploy: lint, goldens, Dockerfiles; e2e: the chart's configuration as processes).
if (which !== "unit" && which !== "conformance") ensureHelm();
if (which === "all" || which === "deploy") ensureKube();
const r = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-concurrency=2",
    "--test-reporter=spec",
    "--disable-warning=ExperimentalWarning",
    ...patterns,
  ],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
