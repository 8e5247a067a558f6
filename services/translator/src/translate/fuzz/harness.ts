// Test support for the fuzz suites: the properties every translation must have, and batch validation
// of translated outputs by a real Envoy (`envoy --mode validate`). Many cases share one static
// bootstrap: each waypoint output becomes its own listener on its own port, with its clusters renamed
// per case, route configurations inlined and EDS clusters made STATIC with their endpoints.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KubeObject } from "@waymark/api";
import { type JsonObject, TypeUrl } from "@waymark/envoy-proto";
import { encodingProblems } from "../golden-cases.ts";
import { type TranslationOutput, type TranslatorSettings, translate, type WaypointOutput } from "../index.ts";
import { isRecord } from "../input/guards.ts";
import { waypointRuntime } from "../limits.ts";

const run = promisify(execFile);

export const FUZZ_SETTINGS: TranslatorSettings = {
  controllerName: "waymark.dev/waymark",
  waypointClassName: "kgateway-waypoint",
  bindAddress: "127.0.0.1",
};

/** Kubernetes' own limits on a condition (metav1.Condition validation). */
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_MESSAGE = 32768;
const MAX_REASON = 1024;

/** Every condition anywhere in a status stanza, with where it is. */
function conditionsOf(status: unknown, where: string, out: Array<{ where: string; c: unknown }> = []) {
  if (Array.isArray(status)) {
    status.forEach((s, i) => {
      conditionsOf(s, `${where}[${i}]`, out);
    });
  } else if (isRecord(status)) {
    for (const [k, v] of Object.entries(status)) {
      if (k === "conditions" && Array.isArray(v)) {
        v.forEach((c, i) => {
          out.push({ where: `${where}.${k}[${i}]`, c });
        });
      } else conditionsOf(v, `${where}.${k}`, out);
    }
  }
  return out;
}

/** Problems with the status stanzas (empty when every property holds). */
export function statusProblems(
  objects: ReadonlyMap<string, KubeObject>,
  output: TranslationOutput,
): string[] {
  const problems: string[] = [];
  for (const s of output.statuses) {
    const label = `${s.ref.kind} ${s.ref.namespace}/${s.ref.name}`;
    const found = conditionsOf(s.status, "status");
    if (found.length === 0) problems.push(`${label}: status without any condition`);
    for (const { where, c } of found) {
      if (!isRecord(c)) {
        problems.push(`${label} ${where}: not an object`);
        continue;
      }
      if (typeof c.type !== "string" || c.type === "") problems.push(`${label} ${where}: no type`);
      if (c.status !== "True" && c.status !== "False" && c.status !== "Unknown")
        problems.push(`${label} ${where}: status ${JSON.stringify(c.status)}`);
      if (typeof c.reason !== "string" || c.reason.length > MAX_REASON || !REASON.test(c.reason))
        problems.push(`${label} ${where}: reason ${JSON.stringify(c.reason)} is not a valid reason`);
      if (typeof c.message !== "string" || c.message === "") problems.push(`${label} ${where}: no message`);
      else if (c.message.length > MAX_MESSAGE)
        problems.push(
          `${label} ${where}: message of ${c.message.length} characters (Kubernetes allows ${MAX_MESSAGE})`,
        );
    }
  }
  // Every Gateway of our class gets a status, and every HTTPRoute or GRPCRoute naming one as parent.
  const ours = new Set(
    output.statuses.filter((s) => s.ref.kind === "Gateway").map((s) => `${s.ref.namespace}/${s.ref.name}`),
  );
  const routeStatus = new Map(
    output.statuses
      .filter((s) => s.ref.kind === "HTTPRoute" || s.ref.kind === "GRPCRoute")
      .map((s) => [`${s.ref.kind}/${s.ref.namespace}/${s.ref.name}`, s]),
  );
  for (const o of objects.values()) {
    if (!isRecord(o) || (o.kind !== "HTTPRoute" && o.kind !== "GRPCRoute")) continue;
    if (!isRecord(o.metadata) || !isRecord(o.spec)) continue;
    const ns = String(o.metadata.namespace);
    const key = `${ns}/${String(o.metadata.name)}`;
    const parents = Array.isArray(o.spec.parentRefs) ? o.spec.parentRefs.filter(isRecord) : [];
    const namesOurs = parents.some(
      (p) =>
        (p.group === undefined || p.group === "gateway.networking.k8s.io") &&
        (p.kind === undefined || p.kind === "Gateway") &&
        typeof p.name === "string" &&
        ours.has(`${typeof p.namespace === "string" && p.namespace ? p.namespace : ns}/${p.name}`),
    );
    if (namesOurs && !routeStatus.has(`${o.kind}/${key}`))
      problems.push(`${o.kind} ${key} names a waypoint of ours but has no status`);
  }
  return problems;
}

export interface CaseResult {
  output?: TranslationOutput;
  /** A thrown error, an unencodable resource, or a status problem. */
  problems: string[];
  resources: number;
}

/** Translates one input and checks the properties that need no Envoy. */
export function checkCase(objects: ReadonlyMap<string, KubeObject>, settings = FUZZ_SETTINGS): CaseResult {
  let output: TranslationOutput;
  try {
    output = translate({ objects }, settings);
  } catch (e) {
    return {
      problems: [`translate threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`],
      resources: 0,
    };
  }
  let resources = 0;
  for (const w of output.waypoints) for (const list of Object.values(w.resources)) resources += list.length;
  const problems = [...encodingProblems(output), ...statusProblems(objects, output)];
  return { output, problems, resources };
}

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** Renames every reference to a cluster in a route configuration (route, weighted, mirrors). */
function renameClusters(v: unknown, rename: (name: string) => string): void {
  if (Array.isArray(v)) {
    for (const x of v) renameClusters(x, rename);
    return;
  }
  if (!isRecord(v)) return;
  if (typeof v.cluster === "string") v.cluster = rename(v.cluster);
  if (isRecord(v.weightedClusters) && Array.isArray(v.weightedClusters.clusters)) {
    for (const c of v.weightedClusters.clusters)
      if (isRecord(c) && typeof c.name === "string") c.name = rename(c.name);
  }
  for (const [k, x] of Object.entries(v)) if (k !== "typedPerFilterConfig") renameClusters(x, rename);
}

/** One waypoint output as static listeners and clusters, unique within a bootstrap by `tag`. */
export function staticParts(
  w: WaypointOutput,
  tag: string,
  port: number,
): { listeners: JsonObject[]; clusters: JsonObject[] } {
  const rename = (n: string) => `${tag}_${n}`;
  const routes = new Map(w.resources[TypeUrl.route].map((r) => [r.name, r.json]));
  const assignments = new Map(w.resources[TypeUrl.endpoint].map((r) => [r.name, r.json]));
  const listeners = w.resources[TypeUrl.listener].map((l, i) => {
    const listener = structuredClone(l.json);
    listener.name = `${tag}_${l.name}`;
    listener.address = { socketAddress: { address: "127.0.0.1", portValue: port + i } };
    for (const chain of Array.isArray(listener.filterChains) ? listener.filterChains : []) {
      if (!isRecord(chain)) continue;
      for (const filter of Array.isArray(chain.filters) ? chain.filters : []) {
        if (!isRecord(filter) || !isRecord(filter.typedConfig)) continue;
        const tc = filter.typedConfig;
        if (tc["@type"] === TCP_PROXY && typeof tc.cluster === "string") tc.cluster = rename(tc.cluster);
        // A TCPRoute's or TLSRoute's backends (routes/tcp/).
        if (tc["@type"] === TCP_PROXY && isRecord(tc.weightedClusters))
          for (const c of Array.isArray(tc.weightedClusters.clusters) ? tc.weightedClusters.clusters : [])
            if (isRecord(c) && typeof c.name === "string") c.name = rename(c.name);
        if (tc["@type"] !== HCM) continue;
        const name = isRecord(tc.rds) ? String(tc.rds.routeConfigName) : "";
        const rc = routes.get(name);
        if (!rc)
          throw new Error(`listener ${l.name} names route configuration ${name}, which is not emitted`);
        const copy = structuredClone(rc);
        renameClusters(copy, rename);
        delete tc.rds;
        tc.routeConfig = copy;
      }
    }
    return listener;
  });
  const clusters = w.resources[TypeUrl.cluster].map((c) => {
    // A cluster that does not use EDS (a ServiceEntry's DNS or ORIGINAL_DST cluster) is whole already.
    if (c.json.type !== "EDS") {
      const whole = structuredClone(c.json);
      if (isRecord(whole.loadAssignment)) whole.loadAssignment.clusterName = rename(c.name);
      return { ...whole, name: rename(c.name) };
    }
    const { edsClusterConfig: _, ...rest } = structuredClone(c.json);
    const cla = assignments.get(c.name);
    if (!cla) throw new Error(`cluster ${c.name} has no ClusterLoadAssignment`);
    return {
      ...rest,
      name: rename(c.name),
      type: "STATIC",
      loadAssignment: { ...structuredClone(cla), clusterName: rename(c.name) },
    };
  });
  return { listeners, clusters };
}

export interface EnvoyCase {
  /** Which fuzz case (for messages). */
  id: number;
  output: TranslationOutput;
}

/** Runs `envoy --mode validate`; undefined when accepted, else Envoy's complaint. */
export async function envoyValidate(file: string): Promise<string | undefined> {
  const envoy = process.env.WAYMARK_ENVOY;
  if (!envoy) throw new Error('WAYMARK_ENVOY is not set: run `eval "$(scripts/bootstrap.sh)"` first');
  try {
    await run(envoy, ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"], {
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return undefined;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    const text = err.stderr || err.stdout || err.message;
    // Envoy prints the offending proto first and the reason last.
    const reason = text.indexOf("Proto constraint validation failed");
    if (reason >= 0) return text.slice(reason, reason + 1500);
    return text.length > 1500 ? `…${text.slice(-1500)}` : text;
  }
}

export interface BatchResult {
  /** envoy --mode validate runs. */
  validations: number;
  /** Cases whose waypoint outputs went to Envoy. */
  validated: number;
  /** Cases Envoy rejected, with why (each found by bisecting a rejected batch). */
  rejected: Array<{ id: number; message: string }>;
}

/** Validates the non-empty waypoint outputs of `cases` in one bootstrap; bisects a rejected batch. */
export async function validateBatch(
  cases: readonly EnvoyCase[],
  dir: string,
  maxRejected = 5,
): Promise<BatchResult> {
  const result: BatchResult = { validations: 0, validated: 0, rejected: [] };
  const withListeners = cases.filter((c) =>
    c.output.waypoints.some(
      (w) => w.resources[TypeUrl.listener].length + w.resources[TypeUrl.cluster].length > 0,
    ),
  );
  result.validated = withListeners.length;
  const check = async (batch: readonly EnvoyCase[]): Promise<void> => {
    if (batch.length === 0 || result.rejected.length >= maxRejected) return;
    const listeners: JsonObject[] = [];
    const clusters: JsonObject[] = [];
    let port = 20000;
    for (const c of batch) {
      c.output.waypoints.forEach((w, i) => {
        const parts = staticParts(w, `c${c.id}w${i}`, port);
        port += Math.max(1, parts.listeners.length);
        listeners.push(...parts.listeners);
        clusters.push(...parts.clusters);
      });
    }
    const file = join(dir, `batch-${batch[0]?.id}-${batch.length}.json`);
    writeFileSync(
      file,
      JSON.stringify({ staticResources: { listeners, clusters }, layeredRuntime: waypointRuntime() }),
    );
    result.validations++;
    const rejected = await envoyValidate(file);
    if (rejected === undefined) return;
    if (batch.length === 1) {
      result.rejected.push({ id: batch[0]?.id ?? -1, message: rejected });
      return;
    }
    const mid = Math.ceil(batch.length / 2);
    await check(batch.slice(0, mid));
    await check(batch.slice(mid));
  };
  await check(withListeners);
  return result;
}
