// Every golden case's xDS, turned into a static bootstrap, must be accepted by the real Envoy we run
// (`envoy --mode validate`). Route configurations are inlined into their HTTP connection managers
// instead of RDS, and clusters become STATIC with their ClusterLoadAssignment as load_assignment, so
// Envoy also checks that every cluster a route names exists.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import type { JsonObject } from "@waymark/envoy-proto";
import { TypeUrl } from "@waymark/envoy-proto";
import { caseNames, loadCase } from "./golden-cases.ts";
import { isRecord } from "./guards.ts";
import { translate, type WaypointOutput } from "./index.ts";

const run = promisify(execFile);
const envoy = process.env.WAYMARK_ENVOY;
const dir = mkdtempSync(join(tmpdir(), "waymark-envoy-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A static bootstrap equivalent to what a waypoint proxy receives over ADS. */
function staticBootstrap(w: WaypointOutput): JsonObject {
  const routes = new Map(w.resources[TypeUrl.route].map((r) => [r.name, r.json]));
  const assignments = new Map(w.resources[TypeUrl.endpoint].map((r) => [r.name, r.json]));
  const listeners = w.resources[TypeUrl.listener].map((l) => {
    const listener = structuredClone(l.json);
    for (const chain of Array.isArray(listener.filterChains) ? listener.filterChains : []) {
      if (!isRecord(chain)) continue;
      for (const filter of Array.isArray(chain.filters) ? chain.filters : []) {
        if (!isRecord(filter) || !isRecord(filter.typedConfig) || filter.typedConfig["@type"] !== HCM)
          continue;
        const hcm = filter.typedConfig;
        const name = isRecord(hcm.rds) ? String(hcm.rds.routeConfigName) : "";
        const routeConfig = routes.get(name);
        assert.ok(routeConfig, `listener ${l.name} names route configuration ${name}, which is not emitted`);
        delete hcm.rds;
        hcm.routeConfig = structuredClone(routeConfig);
      }
    }
    return listener;
  });
  const clusters = w.resources[TypeUrl.cluster].map((c) => {
    const { edsClusterConfig: _, ...rest } = structuredClone(c.json);
    const cla = assignments.get(c.name);
    assert.ok(cla, `cluster ${c.name} has no ClusterLoadAssignment`);
    return { ...rest, type: "STATIC", loadAssignment: structuredClone(cla) };
  });
  return { staticResources: { listeners, clusters } };
}

async function validate(file: string): Promise<string | undefined> {
  assert.ok(envoy, 'WAYMARK_ENVOY is not set: run `eval "$(scripts/bootstrap.sh)"` first');
  try {
    await run(envoy, ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"], {
      timeout: 30_000,
    });
    return undefined;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return err.stderr || err.stdout || err.message;
  }
}

test("the harness is honest: Envoy rejects a route to a missing cluster and an invalid regex", async () => {
  const c = loadCase("header-control");
  const w = translate(c.input, c.settings).waypoints[0];
  assert.ok(w);
  const bootstrap = staticBootstrap(w);
  const text = JSON.stringify(bootstrap);
  const missing = join(dir, "broken-cluster.json");
  writeFileSync(missing, text.replace('"cluster":"kube_httpbin_httpbin2_8000"', '"cluster":"kube_missing"'));
  assert.match((await validate(missing)) ?? "accepted", /kube_missing/);
  const regex = join(dir, "broken-regex.json");
  writeFileSync(regex, text.replace('"match":{"prefix":"/"}', '"match":{"safeRegex":{"regex":"(?=x)"}}'));
  assert.notEqual(await validate(regex), undefined, "Envoy accepted a lookahead regex");
});

for (const name of caseNames()) {
  test(`envoy accepts: ${name}`, async () => {
    const c = loadCase(name);
    const output = translate(c.input, c.settings);
    for (const w of output.waypoints) {
      const empty = Object.values(w.resources).every((list) => list.length === 0);
      if (empty) continue;
      const file = join(dir, `${name}.${w.waypoint.namespace}.${w.waypoint.name}.json`);
      writeFileSync(file, JSON.stringify(staticBootstrap(w), null, 2));
      const rejected = await validate(file);
      assert.equal(
        rejected,
        undefined,
        `Envoy rejected ${name} (${w.waypoint.namespace}/${w.waypoint.name}): ${rejected}`,
      );
    }
  });
}
