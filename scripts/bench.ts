// `pnpm bench <scenario> [args]`: runs one benchmark, prints its figures as a table and writes them
// as JSON under bench-results/. Scenarios live in bench/<name>.ts and export run(args).
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureToolchain } from "./lib/toolchain.ts";

const root = join(fileURLToPath(import.meta.url), "..", "..");
const scenarios = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".ts") && f !== "stats.ts")
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !scenarios.includes(name)) {
  console.error(`usage: pnpm bench <scenario> [args]\nscenarios: ${scenarios.join(", ")}`);
  process.exit(2);
}
ensureToolchain();
const mod = (await import(join(root, "bench", `${name}.ts`))) as {
  run(a: string[]): Promise<Record<string, unknown>>;
};
const result = {
  ...(await mod.run(args)),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
  node: process.version,
  at: new Date().toISOString(),
};
console.table(Object.entries(result).map(([k, v]) => ({ figure: k, value: v })));
mkdirSync(join(root, "bench-results"), { recursive: true });
writeFileSync(join(root, "bench-results", `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
