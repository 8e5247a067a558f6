// Long-mode fuzzing (`pnpm test:fuzz`): the translator fuzz suites with many cases. FUZZ_CASES
// (default 10000), FUZZ_SEED, FUZZ_XDS_CASES (default 100) and FUZZ_LUA_RUNS (default 2000) size the
// run; each suite prints its figures (cases, Envoy validations, NACKs, time).
import { spawnSync } from "node:child_process";
import { ensureToolchain } from "./lib/toolchain.ts";

ensureToolchain();
const env = {
  ...process.env,
  FUZZ_CASES: process.env.FUZZ_CASES ?? "10000",
  FUZZ_XDS_CASES: process.env.FUZZ_XDS_CASES ?? "100",
  FUZZ_LUA_RUNS: process.env.FUZZ_LUA_RUNS ?? "2000",
};
const started = Date.now();
const r = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-concurrency=1",
    "--test-reporter=spec",
    "--disable-warning=ExperimentalWarning",
    "services/translator/src/translate/fuzz.test.ts",
    "services/translator/src/translate/fuzz-lua.test.ts",
    "services/translator/src/translate/fuzz-xds.test.ts",
  ],
  { stdio: "inherit", env },
);
console.log(
  `fuzz: ${((Date.now() - started) / 1000).toFixed(1)} s in all (FUZZ_SEED=${process.env.FUZZ_SEED ?? "default"})`,
);
process.exit(r.status ?? 1);
