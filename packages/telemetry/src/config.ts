// Telemetry configuration from the environment, parsed once at start-up. Tracing follows the
// OpenTelemetry SDK variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...): with no endpoint
// it is off and costs nothing. The Prometheus/health endpoint is WAYMARK_METRICS_ADDRESS (host:port).
import { hostname } from "node:os";
import { ConfigError } from "@waymark/api";

export interface ListenAddress {
  host: string;
  /** 0 = any free port. */
  port: number;
}

export interface TelemetryConfig {
  /** service.name: `waymark-<service>` unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  /** Full OTLP/HTTP traces URL (…/v1/traces); undefined = tracing off. */
  tracesEndpoint: string | undefined;
  /** Extra headers for the exporter (OTEL_EXPORTER_OTLP_HEADERS / _TRACES_HEADERS). */
  headers: Readonly<Record<string, string>>;
  /** Resource attributes (service.* and OTEL_RESOURCE_ATTRIBUTES). */
  resource: Readonly<Record<string, string>>;
  /** Batch export delay (OTEL_BSP_SCHEDULE_DELAY, ms). */
  exportDelayMs: number;
  /** Where /metrics, /healthz and /readyz are served; undefined = not served. */
  metricsAddress: ListenAddress | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

const val = (env: Env, name: string) => {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
};

/** `k1=v1,k2=v2` with percent-encoded values (the OTEL_RESOURCE_ATTRIBUTES / _HEADERS format). */
export function parseKeyValues(name: string, raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(",")) {
    if (part.trim() === "") continue;
    const i = part.indexOf("=");
    const k = i < 0 ? "" : part.slice(0, i).trim();
    if (!k) throw new ConfigError(`${name}: ${JSON.stringify(part)} is not key=value`);
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      throw new ConfigError(`${name}: the value of ${k} is not valid percent-encoding`);
    }
  }
  return out;
}

function httpUrl(name: string, raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not a URL (expected e.g. http://127.0.0.1:4318)`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new ConfigError(`${name}=${JSON.stringify(raw)} must be an http:// or https:// URL`);
  return u;
}

/** The OTLP/HTTP traces URL, or undefined when tracing is off. */
function tracesEndpoint(env: Env): string | undefined {
  if ((val(env, "OTEL_SDK_DISABLED") ?? "").toLowerCase() === "true") return undefined;
  const exporter = (val(env, "OTEL_TRACES_EXPORTER") ?? "otlp").toLowerCase();
  if (exporter === "none") return undefined;
  if (exporter !== "otlp")
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER=${JSON.stringify(exporter)}: only otlp and none are supported`,
    );
  const protocol = val(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? val(env, "OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol !== undefined && protocol !== "http/json" && protocol !== "http/protobuf") {
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${JSON.stringify(protocol)}: Waymark exports OTLP over HTTP (port 4318); use http/json or http/protobuf`,
    );
  }
  const full = val(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (full) return httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full).href;
  const base = val(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (!base) return undefined;
  const u = httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base);
  return `${u.href.replace(/\/+$/, "")}/v1/traces`;
}

export function parseListenAddress(name: string, raw: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected host:port, e.g. 0.0.0.0:9090`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function loadTelemetryConfig(
  service: string,
  env: Env = process.env,
  version = "0.1.0",
): Readonly<TelemetryConfig> {
  const resourceEnv = parseKeyValues("OTEL_RESOURCE_ATTRIBUTES", val(env, "OTEL_RESOURCE_ATTRIBUTES"));
  const serviceName = val(env, "OTEL_SERVICE_NAME") ?? resourceEnv["service.name"] ?? `waymark-${service}`;
  const resource: Record<string, string> = {
    "service.namespace": "waymark",
    "service.version": version,
    "service.instance.id": `${hostname()}-${process.pid}`,
    "host.name": hostname(),
    "process.pid": String(process.pid),
    "process.runtime.name": "nodejs",
    "process.runtime.version": process.versions.node,
    ...resourceEnv,
    "service.name": serviceName,
  };
  const headers = {
    ...parseKeyValues("OTEL_EXPORTER_OTLP_HEADERS", val(env, "OTEL_EXPORTER_OTLP_HEADERS")),
    ...parseKeyValues("OTEL_EXPORTER_OTLP_TRACES_HEADERS", val(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
  };
  const delayRaw = val(env, "OTEL_BSP_SCHEDULE_DELAY") ?? "5000";
  if (!/^\d+$/.test(delayRaw))
    throw new ConfigError(`OTEL_BSP_SCHEDULE_DELAY=${JSON.stringify(delayRaw)}: expected milliseconds`);
  const metricsRaw = val(env, "WAYMARK_METRICS_ADDRESS");
  return Object.freeze({
    serviceName,
    tracesEndpoint: tracesEndpoint(env),
    headers: Object.freeze(headers),
    resource: Object.freeze(resource),
    exportDelayMs: Number(delayRaw),
    metricsAddress: metricsRaw
      ? Object.freeze(parseListenAddress("WAYMARK_METRICS_ADDRESS", metricsRaw))
      : undefined,
  });
}
