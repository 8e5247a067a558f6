// Makes the programs of scripts/bootstrap.sh available to this process: runs the (idempotent,
// cached) bootstrap when its variables are missing and applies the `export` lines it prints.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..", "..");

export function ensureToolchain(): void {
  if (process.env["WAYMARK_ENVOY"] && process.env["WAYMARK_NATS_SERVER"] && process.env["WAYMARK_HTTPBIN"])
    return;
  const out = execFileSync(join(root, "scripts", "bootstrap.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  for (const line of out.split("\n")) {
    const m = /^export ([A-Z_]+)="(.*)"$/.exec(line);
    if (!m) continue;
    process.env[m[1]!] = m[2]!.replace("$PATH", process.env["PATH"] ?? "");
  }
}
