// The watcher's configuration, from environment variables, parsed once at start-up.
import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "@waymark/api";
import { type KubeSourceConfig, loadKubeSourceConfig } from "./kube/config.ts";
import { DEFAULT_ISTIO_NAMESPACE } from "./mesh-config.ts";

export type SourceConfig = { type: "dir"; path: string } | KubeSourceConfig;

export interface WatcherConfig {
  natsUrl: string;
  source: SourceConfig;
  /**
   * The largest object envelope (JSON bytes) published to wm-objects (WAYMARK_MAX_OBJECT_BYTES,
   * default 1 MiB when absent); the NATS server's max_payload lowers it further when smaller.
   */
  maxObjectBytes?: number;
  /**
   * The Istio namespace (WAYMARK_ROOT_NAMESPACE, default istio-system): its ConfigMap `istio` is the
   * mesh config, the one ConfigMap forwarded (mesh-config.ts).
   */
  istioNamespace?: string;
}

export const DEFAULT_MAX_OBJECT_BYTES = 1024 * 1024;

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<WatcherConfig> {
  const natsUrl = env["WAYMARK_NATS_URL"]?.trim() || "nats://127.0.0.1:4222";
  if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(natsUrl)) {
    throw new ConfigError(
      `WAYMARK_NATS_URL must be a nats:// (or tls://, ws://, wss://) URL, got "${natsUrl}"`,
    );
  }
  const raw = env["WAYMARK_SOURCE"]?.trim();
  if (!raw) throw new ConfigError("WAYMARK_SOURCE is required: dir:<path> (a directory of YAML files)");
  let source: SourceConfig;
  if (raw === "kube" || raw.startsWith("kube:")) {
    source = loadKubeSourceConfig(raw, env);
  } else if (raw.startsWith("dir:")) {
    const path = raw.slice(4).trim();
    if (!path) throw new ConfigError("WAYMARK_SOURCE=dir: needs a path, e.g. dir:/etc/waymark/objects");
    source = { type: "dir", path: isAbsolute(path) ? path : resolve(path) };
  } else {
    throw new ConfigError(`WAYMARK_SOURCE must be dir:<path>, kube or kube:<kubeconfig>, got "${raw}"`);
  }
  const rawMax = env["WAYMARK_MAX_OBJECT_BYTES"]?.trim();
  let maxObjectBytes = DEFAULT_MAX_OBJECT_BYTES;
  if (rawMax) {
    maxObjectBytes = Number(rawMax);
    // NATS itself allows at most 64 MiB per message.
    if (!/^\d+$/.test(rawMax) || maxObjectBytes < 4096 || maxObjectBytes > 64 * 1024 * 1024) {
      throw new ConfigError(
        `WAYMARK_MAX_OBJECT_BYTES must be a whole number of bytes from 4096 to 67108864, got "${rawMax}"`,
      );
    }
  }
  const istioNamespace = env["WAYMARK_ROOT_NAMESPACE"]?.trim() || DEFAULT_ISTIO_NAMESPACE;
  if (istioNamespace.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(istioNamespace))
    throw new ConfigError(
      `WAYMARK_ROOT_NAMESPACE=${JSON.stringify(istioNamespace)}: expected a namespace name (lower-case DNS label)`,
    );
  return Object.freeze({ natsUrl, source: Object.freeze(source), maxObjectBytes, istioNamespace });
}
