// Runs Waymark's tests with node's test runner: `unit` (pure logic and service integration with
// real NATS/Envoy), `e2e` (whole control plane with real processes), or both (default).
import { spawnSync } from "node:child_process";
import { ensureToolchain } from "./lib/toolchain.ts";

const suites: Record<string, string[]> = {
  unit: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "services/*/test/**/*.test.ts"],
  e2e: ["test/e2e/**/*.test.ts"],
};
const which = process.argv[2] ?? "all";
const patterns = which === "all" ? [...suites["unit"]!, ...suites["e2e"]!] : suites[which];
if (!patterns) {
  console.error(`usage: node scripts/test.ts [unit|e2e|all]`);
  process.exit(2);
}
ensureToolchain();
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
