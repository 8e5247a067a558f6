// AuthorizationPolicy objects as the authorization e2e tests write them into a standalone stack's
// directory, and how they read the results back: the policy's status conditions from the status KV
// and the proxies' ACK state.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Condition,
  ISTIO_SECURITY_GROUP,
  objectKey,
  type ProxyRecord,
  type StatusEntry,
} from "@waymark/api";
import { getJson, type KV, listKeys } from "@waymark/bus";
import { type EnvoyProc, waitFor } from "@waymark/testing";

export const SECURITY_API = `${ISTIO_SECURITY_GROUP}/v1`;

export type TargetRef = { group: string; kind: string; name: string; namespace?: string };
export const GATEWAY_REF: TargetRef = {
  group: "gateway.networking.k8s.io",
  kind: "Gateway",
  name: "kgateway-waypoint",
};
export const serviceRef = (name: string): TargetRef => ({ group: "", kind: "Service", name });
export const GATEWAY_CLASS_REF: TargetRef = {
  group: "gateway.networking.k8s.io",
  kind: "GatewayClass",
  name: "kgateway-waypoint",
};

export interface PolicyOptions {
  namespace?: string;
  /** Default: the guide's waypoint Gateway. `null`: no targetRefs at all. */
  targetRefs?: TargetRef[] | null;
  annotations?: Record<string, string>;
}

/** An AuthorizationPolicy object; `spec` is written as given (plus targetRefs unless told not to). */
export function authorizationPolicy(name: string, spec: Record<string, unknown>, o: PolicyOptions = {}) {
  const targetRefs = o.targetRefs === undefined ? [GATEWAY_REF] : o.targetRefs;
  return {
    apiVersion: SECURITY_API,
    kind: "AuthorizationPolicy",
    metadata: {
      name,
      namespace: o.namespace ?? "httpbin",
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: targetRefs === null ? spec : { targetRefs, ...spec },
  };
}

/** Writes objects as one multi-document YAML file (JSON documents are YAML). */
export function writeObjects(dir: string, file: string, objects: readonly unknown[]): void {
  writeFileSync(join(dir, file), objects.map((o) => `${JSON.stringify(o, null, 2)}\n`).join("---\n"));
}

let markers = 0;

/**
 * Writes a policy file and waits until Envoy runs it. A verdict alone cannot show that (an AUDIT
 * or dry-run policy, or an unbound one, changes none; a deny may be the previous file's), so the file
 * also carries, written last, a policy with a name used once that matches nothing: a DENY of port 1,
 * which no chain has (a port is also a TCP field, so the policy changes no TCP chain either). Once
 * Envoy's active listeners name that policy, the translation that included the whole file is the one
 * new connections get.
 */
export async function applyPolicies(
  envoy: EnvoyProc,
  dir: string,
  file: string,
  objects: readonly unknown[],
): Promise<void> {
  const name = `marker-${++markers}-${randomBytes(4).toString("hex")}`;
  const m = authorizationPolicy(name, { action: "DENY", rules: [{ to: [{ operation: { ports: ["1"] } }] }] });
  writeObjects(dir, file, [...objects, m]);
  await waitFor(`${file} (${name}) in Envoy's active listener`, async () => {
    const dump = JSON.parse(await envoy.admin("/config_dump?resource=dynamic_listeners")) as {
      configs?: Array<{ active_state?: unknown }>;
    };
    return (dump.configs ?? []).some((l) => JSON.stringify(l.active_state ?? null).includes(`[${name}]`));
  });
}

export function policyKey(name: string, namespace = "httpbin"): string {
  return objectKey({ group: ISTIO_SECURITY_GROUP, kind: "AuthorizationPolicy", namespace, name });
}

/** The policy's status conditions by type, or undefined when it has no status entry. */
export async function policyConditions(
  statusKv: KV,
  name: string,
  namespace = "httpbin",
): Promise<Record<string, Condition> | undefined> {
  const e = await getJson<StatusEntry>(statusKv, policyKey(name, namespace));
  if (!e) return undefined;
  const list = (e.status["conditions"] ?? []) as Condition[];
  return Object.fromEntries(list.map((c) => [c.type, c]));
}

export const WAYPOINT_ACCEPTED = "WaypointAccepted";
export const TRANSLATED = "waymark.dev/Translated";

/** Fails when any proxy NACKed any resource type. */
export async function assertNoNack(proxiesKv: KV): Promise<void> {
  const keys = await listKeys(proxiesKv);
  assert.ok(keys.length > 0, "no proxy record at all");
  for (const k of keys) {
    const rec = await getJson<ProxyRecord>(proxiesKv, k);
    for (const [type, s] of Object.entries(rec?.types ?? {})) {
      assert.equal(s.nackedVersion, undefined, `${k} ${type} NACKed: ${s.nackMessage}`);
    }
  }
}
