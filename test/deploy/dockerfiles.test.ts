// One Dockerfile per service: hadolint passes, and each names only its service's files (the service,
// the workspace packages it depends on, and the workspace's root manifests), non-root, Node 24 slim.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { REPO_ROOT } from "@waymark/devstack";
import { requireEnv } from "@waymark/testing";

const SERVICES = ["watcher", "translator", "xds-server"];
const ROOT_FILES = ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"];

/** Workspace packages (by directory) a package needs at run time: its dependencies, transitively. */
function workspaceClosure(dir: string, seen = new Set<string>()): Set<string> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, dir, "package.json"), "utf8"));
  for (const [name, version] of Object.entries<string>(pkg.dependencies ?? {})) {
    if (!version.startsWith("workspace:")) continue;
    const sub = `packages/${name.replace(/^@waymark\//, "")}`;
    if (seen.has(sub)) continue;
    seen.add(sub);
    workspaceClosure(sub, seen);
  }
  return seen;
}

const dockerfile = (svc: string) =>
  readFileSync(join(REPO_ROOT, "deploy", "docker", `${svc}.Dockerfile`), "utf8");

/** The repository paths a Dockerfile copies from the build context (COPY without --from). */
function copiedPaths(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^COPY\s+(.*)$/.exec(line.trim());
    if (!m || /--from=/.test(m[1]!)) continue;
    const args = m[1]!.split(/\s+/).filter((a) => !a.startsWith("--"));
    out.push(...args.slice(0, -1));
  }
  return out;
}

describe("Dockerfiles", () => {
  for (const svc of SERVICES) {
    test(`${svc}: hadolint passes`, () => {
      const hadolint = requireEnv("WAYMARK_HADOLINT", "run scripts/bootstrap-helm.sh");
      const file = join(REPO_ROOT, "deploy", "docker", `${svc}.Dockerfile`);
      // Exit status 0 at the default threshold (info): no findings at all.
      const out = execFileSync(hadolint, ["--no-color", file], { encoding: "utf8" });
      assert.equal(out.trim(), "");
    });

    test(`${svc}: names only its own files and all of them`, () => {
      const deps = workspaceClosure(`services/${svc}`);
      const allowed = new Set([...ROOT_FILES, `services/${svc}`, ...deps]);
      const copied = copiedPaths(dockerfile(svc));
      for (const p of copied) {
        const owner = ROOT_FILES.includes(p) ? p : p.split("/").slice(0, 2).join("/");
        assert.ok(allowed.has(owner), `${svc}.Dockerfile copies ${p}, which is not ${svc}'s`);
      }
      // Every package it needs is there: its manifest and its sources (envoy-proto's are generated).
      for (const d of [`services/${svc}`, ...deps]) {
        assert.ok(copied.includes(`${d}/package.json`), `${svc}.Dockerfile misses ${d}/package.json`);
        assert.ok(copied.includes(`${d}/src`), `${svc}.Dockerfile misses ${d}/src`);
      }
      for (const other of SERVICES.filter((s) => s !== svc))
        assert.doesNotMatch(dockerfile(svc), new RegExp(`services/${other}/`));
    });

    test(`${svc}: Node 24 slim, multi-stage, non-root, runs the service's main.ts`, () => {
      const text = dockerfile(svc);
      assert.match(text, /^ARG NODE_IMAGE=node:24(\.\d+)*-slim$/m);
      assert.ok((text.match(/^FROM /gm) ?? []).length >= 3, "multi-stage");
      assert.match(text, /^USER 1000:1000$/m);
      assert.match(text, /--prod --filter "@waymark\/[a-z-]+\.\.\."/);
      const entry = /^ENTRYPOINT (\[.*\])$/m.exec(text);
      assert.ok(entry);
      assert.deepEqual(JSON.parse(entry[1]!).at(-1), `services/${svc}/src/main.ts`);
    });
  }
});
