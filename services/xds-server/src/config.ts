// Environment → frozen configuration of the xds-server.
import { hostname } from "node:os";
import { ConfigError } from "@waymark/api";
import { XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";

/**
 * The default largest xDS response (128 MiB). Envoy's gRPC client accepts messages of any size by
 * default (EnvoyGrpc.max_receive_message_length unset = unlimited), but holds each one whole in
 * memory: a bound keeps a runaway snapshot from costing every proxy that much at once.
 */
export const DEFAULT_MAX_SEND_BYTES = 128 * 1024 * 1024;
/** 16 KiB: room for a few resources. */
const MIN_SEND_BYTES = 16 * 1024;
/** grpc-js takes the limit as a 32-bit signed integer. */
const MAX_SEND_BYTES = 2 ** 31 - 1;

export interface XdsServerConfig {
  readonly natsUrl: string;
  /** `host:port` the ADS server listens on (port 0 = any free port). */
  readonly address: string;
  /** This replica's name: the first token of its wm-proxies keys. */
  readonly replica: string;
  /** Streams are ended after this age (with jitter) so proxies rebalance; 0 = never. */
  readonly maxConnectionAgeMs: number;
  /** HTTP/2 PING to each connected proxy after this long, to find dead peers; 0 = never. */
  readonly keepaliveMs: number;
  /**
   * A replica whose heartbeat (wm-replicas) is this old is gone, and the live replicas delete its
   * wm-proxies records (0 = never).
   */
  readonly proxyRecordTtlMs: number;
  /**
   * `kubernetes`: every ADS stream must carry a service-account token (`authorization: Bearer`),
   * verified with the issuer's keys the watcher publishes in wm-issuer, and may fetch only its own
   * waypoint. `none`: no check (standalone, development).
   */
  readonly auth: "kubernetes" | "none";
  /** The audience proxy tokens must hold (default XDS_TOKEN_AUDIENCE, what waypoint Deployments project). */
  readonly tokenAudience: string;
  /** The issuer proxy tokens must name; undefined = the issuer the watcher published. */
  readonly tokenIssuer: string | undefined;
  /** Clock skew tolerated on a token's exp and nbf (seconds). */
  readonly tokenSkewSeconds: number;
  /** The largest xDS response sent to a proxy (bytes); a larger one is refused, logged and recorded. */
  readonly maxSendBytes: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): XdsServerConfig {
  const natsUrl = env["WAYMARK_NATS_URL"] || "nats://127.0.0.1:4222";
  if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(natsUrl)) {
    throw new ConfigError(`WAYMARK_NATS_URL must be a nats:// URL, got ${JSON.stringify(natsUrl)}`);
  }
  const address = env["WAYMARK_XDS_ADDRESS"] || "0.0.0.0:18000";
  const m = /^(.+):(\d+)$/.exec(address);
  if (!m || Number(m[2]) > 65535) {
    throw new ConfigError(`WAYMARK_XDS_ADDRESS must be host:port, got ${JSON.stringify(address)}`);
  }
  const replica = env["WAYMARK_REPLICA"] || `${hostname()}-${process.pid}`;
  if (!/^[-/_=.A-Za-z0-9]+$/.test(replica)) {
    throw new ConfigError(`WAYMARK_REPLICA may hold only [-/_=.A-Za-z0-9], got ${JSON.stringify(replica)}`);
  }
  const ageRaw = env["WAYMARK_XDS_MAX_CONNECTION_AGE_MS"] || "1800000";
  const maxConnectionAgeMs = Number(ageRaw);
  if (!Number.isInteger(maxConnectionAgeMs) || maxConnectionAgeMs < 0) {
    throw new ConfigError(
      `WAYMARK_XDS_MAX_CONNECTION_AGE_MS must be a whole number of milliseconds, got ${JSON.stringify(ageRaw)}`,
    );
  }
  const keepaliveRaw = env["WAYMARK_XDS_KEEPALIVE_MS"]?.trim() || "30000";
  const keepaliveMs = Number(keepaliveRaw);
  if (!/^\d+$/.test(keepaliveRaw) || (keepaliveMs > 0 && keepaliveMs < 1000)) {
    throw new ConfigError(
      `WAYMARK_XDS_KEEPALIVE_MS must be 0 (no pings) or at least 1000 ms, got ${JSON.stringify(keepaliveRaw)}`,
    );
  }
  const ttlRaw = env["WAYMARK_PROXY_RECORD_TTL_MS"] || "30000";
  const proxyRecordTtlMs = Number(ttlRaw);
  if (!/^\d+$/.test(ttlRaw) || (proxyRecordTtlMs > 0 && proxyRecordTtlMs < 1000)) {
    throw new ConfigError(
      `WAYMARK_PROXY_RECORD_TTL_MS must be 0 (never expire) or at least 1000 ms, got ${JSON.stringify(ttlRaw)}`,
    );
  }
  const auth = env["WAYMARK_XDS_AUTH"]?.trim() || "none";
  if (auth !== "kubernetes" && auth !== "none") {
    throw new ConfigError(`WAYMARK_XDS_AUTH must be kubernetes or none, got ${JSON.stringify(auth)}`);
  }
  const tokenAudience = env["WAYMARK_XDS_TOKEN_AUDIENCE"]?.trim() || XDS_TOKEN_AUDIENCE;
  if (/\s/.test(tokenAudience)) {
    throw new ConfigError(
      `WAYMARK_XDS_TOKEN_AUDIENCE may not hold spaces, got ${JSON.stringify(tokenAudience)}`,
    );
  }
  const tokenIssuer = env["WAYMARK_XDS_TOKEN_ISSUER"]?.trim() || undefined;
  const skewRaw = env["WAYMARK_XDS_TOKEN_SKEW_S"]?.trim() || "30";
  if (!/^\d+$/.test(skewRaw) || Number(skewRaw) > 600) {
    throw new ConfigError(
      `WAYMARK_XDS_TOKEN_SKEW_S must be 0 to 600 seconds, got ${JSON.stringify(skewRaw)}`,
    );
  }
  const sendRaw = env["WAYMARK_XDS_MAX_SEND_BYTES"]?.trim() || String(DEFAULT_MAX_SEND_BYTES);
  const maxSendBytes = Number(sendRaw);
  if (!/^\d+$/.test(sendRaw) || maxSendBytes < MIN_SEND_BYTES || maxSendBytes > MAX_SEND_BYTES) {
    throw new ConfigError(
      `WAYMARK_XDS_MAX_SEND_BYTES must be ${MIN_SEND_BYTES} to ${MAX_SEND_BYTES} bytes, got ${JSON.stringify(sendRaw)}`,
    );
  }
  return Object.freeze({
    natsUrl,
    address,
    replica,
    maxConnectionAgeMs,
    keepaliveMs,
    proxyRecordTtlMs,
    auth,
    tokenAudience,
    tokenIssuer,
    tokenSkewSeconds: Number(skewRaw),
    maxSendBytes,
  });
}
