// Configuration of the Kubernetes source and write-back, from environment variables:
//   WAYMARK_SOURCE=kube                 kubeconfig from $KUBECONFIG, else in-cluster
//   WAYMARK_SOURCE=kube:<kubeconfig>    that kubeconfig (its current context)
//   WAYMARK_KUBE_CONTEXT                another context of the kubeconfig
//   WAYMARK_FIELD_MANAGER               server-side apply field manager (waymark)
//   WAYMARK_LEASE_NAMESPACE / _NAME     the leader-election Lease (waymark-system / waymark-watcher)
//   WAYMARK_LEASE_DURATION_MS           15000 (renew deadline 2/3 of it, retry 1/5 of it)
//   WAYMARK_GATEWAYCLASS_FILE           the GatewayClass manifest applied at start (deploy/gatewayclass.yaml)
//   WAYMARK_KUBE_WATCH_TIMEOUT_S        server-side watch timeout (300)
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "@waymark/api";

export interface KubeSourceConfig {
  type: "kube";
  /** A kubeconfig path, or undefined for in-cluster. */
  kubeconfig: string | undefined;
  context: string | undefined;
  fieldManager: string;
  lease: { namespace: string; name: string; durationMs: number; renewDeadlineMs: number; retryMs: number };
  gatewayClassFile: string;
  watchTimeoutSec: number;
  /** How often the Secrets policies reference are read again (kube/secrets.ts). */
  secretRefreshMs: number;
}

const DEFAULT_GATEWAYCLASS = join(
  fileURLToPath(import.meta.url),
  "..",
  "..",
  "..",
  "..",
  "..",
  "deploy",
  "gatewayclass.yaml",
);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function int(env: Record<string, string | undefined>, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected a whole number ≥ ${min}`);
  return Number(raw);
}

export function loadKubeSourceConfig(raw: string, env: Record<string, string | undefined>): KubeSourceConfig {
  let kubeconfig: string | undefined;
  if (raw.startsWith("kube:")) {
    const p = raw.slice(5).trim();
    if (!p) throw new ConfigError("WAYMARK_SOURCE=kube: needs a kubeconfig path, or use WAYMARK_SOURCE=kube");
    kubeconfig = isAbsolute(p) ? p : resolve(p);
  } else {
    const k = env["KUBECONFIG"]?.split(":")[0]?.trim();
    kubeconfig = k ? (isAbsolute(k) ? k : resolve(k)) : undefined;
  }
  const fieldManager = env["WAYMARK_FIELD_MANAGER"]?.trim() || "waymark";
  if (!/^[\x21-\x7e]{1,128}$/.test(fieldManager))
    throw new ConfigError(
      `WAYMARK_FIELD_MANAGER=${JSON.stringify(fieldManager)}: printable, no spaces, ≤ 128 characters`,
    );
  const namespace = env["WAYMARK_LEASE_NAMESPACE"]?.trim() || "waymark-system";
  const name = env["WAYMARK_LEASE_NAME"]?.trim() || "waymark-watcher";
  for (const [k, v] of [
    ["WAYMARK_LEASE_NAMESPACE", namespace],
    ["WAYMARK_LEASE_NAME", name],
  ] as const) {
    if (!DNS_LABEL.test(v) || v.length > 63)
      throw new ConfigError(`${k}=${JSON.stringify(v)}: not a valid name`);
  }
  const durationMs = int(env, "WAYMARK_LEASE_DURATION_MS", 15_000, 1000);
  const gatewayClassFile = env["WAYMARK_GATEWAYCLASS_FILE"]?.trim() || DEFAULT_GATEWAYCLASS;
  return {
    type: "kube",
    kubeconfig,
    context: env["WAYMARK_KUBE_CONTEXT"]?.trim() || undefined,
    fieldManager,
    lease: {
      namespace,
      name,
      durationMs,
      renewDeadlineMs: Math.floor((durationMs * 2) / 3),
      retryMs: Math.max(200, Math.floor(durationMs / 5)),
    },
    gatewayClassFile: isAbsolute(gatewayClassFile) ? gatewayClassFile : resolve(gatewayClassFile),
    watchTimeoutSec: int(env, "WAYMARK_KUBE_WATCH_TIMEOUT_S", 300, 1),
    secretRefreshMs: int(env, "WAYMARK_KUBE_SECRET_REFRESH_MS", 30_000, 100),
  };
}
