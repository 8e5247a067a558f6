// The watcher's configuration, from environment variables, parsed once at start-up.
import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "@waymark/api";
import { type KubeSourceConfig, loadKubeSourceConfig } from "./kube/config.ts";

export type SourceConfig = { type: "dir"; path: string } | KubeSourceConfig;

export interface WatcherConfig {
  natsUrl: string;
  source: SourceConfig;
}

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
  return Object.freeze({ natsUrl, source: Object.freeze(source) });
}
