// Copies examples/standalone into a temporary directory, pointing its EndpointSlices at the given
// local ports, so a test runs the very example the README runs.
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "@waymark/devstack";
import { tempDir } from "@waymark/testing";
import { parseAllDocuments, stringify } from "yaml";

export const EXAMPLE_DIR = join(REPO_ROOT, "examples", "standalone");

export function copyExample(backendPorts: Record<string, number>): string {
  const dir = tempDir("example");
  cpSync(EXAMPLE_DIR, dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    const docs = parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS());
    let changed = false;
    for (const d of docs) {
      const svc = d?.metadata?.labels?.["kubernetes.io/service-name"];
      if (d?.kind === "EndpointSlice" && svc in backendPorts) {
        for (const p of d.ports) p.port = backendPorts[svc];
        changed = true;
      }
    }
    if (changed) writeFileSync(path, docs.map((d) => stringify(d)).join("---\n"));
  }
  return dir;
}
