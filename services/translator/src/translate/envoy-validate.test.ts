// Every golden case's xDS, turned into a static bootstrap, must be accepted by the real Envoy we run
// (`envoy --mode validate`). Route configurations are inlined into their HTTP connection managers
// instead of RDS, and clusters become STATIC with their ClusterLoadAssignment as load_assignment, so
// Envoy also checks that every cluster a route names exists. SDS secrets become static secrets, and the
// references to them (sds_config over ADS) name those.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import type { JsonObject } from "@waymark/envoy-proto";
import { SECRET_TYPE_URL, TypeUrl } from "@waymark/envoy-proto";
import { caseNames, loadCase } from "./golden-cases.ts";
import { translate, type WaypointOutput } from "./index.ts";
import { isRecord } from "./input/guards.ts";
import { RE2_MAX_PROGRAM_SIZE, waypointRuntime } from "./limits.ts";
import { re2ProgramSizeBound } from "./routes/matches.ts";

const run = promisify(execFile);
const envoy = process.env.WAYMARK_ENVOY;
const dir = mkdtempSync(join(tmpdir(), "waymark-envoy-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** SDS references to the snapshot's secrets (`names`) made references to static secrets. */
function staticSecretRefs(v: unknown, names: ReadonlySet<string>): void {
  if (Array.isArray(v)) {
    for (const x of v) staticSecretRefs(x, names);
    return;
  }
  if (!isRecord(v)) return;
  if (typeof v.name === "string" && names.has(v.name) && v.sdsConfig !== undefined) delete v.sdsConfig;
  for (const x of Object.values(v)) staticSecretRefs(x, names);
}

/** A static bootstrap equivalent to what a waypoint proxy receives over ADS. */
function staticBootstrap(w: WaypointOutput): JsonObject {
  const secrets = (w.resources[SECRET_TYPE_URL] ?? []).map((s) => structuredClone(s.json));
  const secretNames = new Set(secrets.map((s) => String(s.name)));
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
    staticSecretRefs(listener, secretNames);
    return listener;
  });
  const clusters = w.resources[TypeUrl.cluster].map((c) => {
    // A cluster with its own endpoints (a JWKS server's) is kept as it is.
    if (c.json.edsClusterConfig === undefined) return structuredClone(c.json);
    const { edsClusterConfig: _, ...rest } = structuredClone(c.json);
    const cla = assignments.get(c.name);
    assert.ok(cla, `cluster ${c.name} has no ClusterLoadAssignment`);
    return { ...rest, type: "STATIC", loadAssignment: structuredClone(cla) };
  });
  // The same runtime layer as a waypoint's bootstrap (RE2 program-size limit).
  return {
    staticResources: { listeners, clusters, ...(secrets.length ? { secrets } : {}) },
    layeredRuntime: waypointRuntime(),
  };
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

test("the RE2 limit: the translator's bound and the bootstrap's runtime layer agree with Envoy", async () => {
  const c = loadCase("header-control");
  const w = translate(c.input, c.settings).waypoints[0];
  assert.ok(w);
  const text = JSON.stringify(staticBootstrap(w));
  // An ordinary path regex well over Envoy's default limit (100), under ours.
  const ordinary = `^/(${Array.from({ length: 12 }, (_, i) => `v${i}/(users|orders|items)`).join("|")})/[a-z0-9-]+$`;
  const bound = re2ProgramSizeBound(ordinary);
  assert.ok(bound > 100 && bound <= RE2_MAX_PROGRAM_SIZE, `bound ${bound}`);
  const withRegex = (t: string, regex: string) =>
    t.replace('"match":{"prefix":"/"}', `"match":{"safeRegex":{"regex":${JSON.stringify(regex)}}}`);
  const accepted = join(dir, "re2-ordinary.json");
  writeFileSync(accepted, withRegex(text, ordinary));
  assert.equal(await validate(accepted), undefined);
  // Without the runtime layer, Envoy's default refuses it: the layer is what makes it work.
  const { layeredRuntime: _, ...plain } = JSON.parse(withRegex(text, ordinary)) as Record<string, unknown>;
  const refused = join(dir, "re2-default-limit.json");
  writeFileSync(refused, JSON.stringify(plain));
  assert.match((await validate(refused)) ?? "accepted", /program size/i);
  // A regex the translator refuses for its size is one Envoy refuses too, even with the layer.
  const huge = "^/[a-z]{600}[0-9]{600}$";
  assert.ok(re2ProgramSizeBound(huge) > RE2_MAX_PROGRAM_SIZE);
  const tooBig = join(dir, "re2-huge.json");
  writeFileSync(tooBig, withRegex(text, huge));
  assert.match((await validate(tooBig)) ?? "accepted", /program size/i);
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
