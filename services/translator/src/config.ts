// The translator's configuration: environment variables parsed once into a frozen, typed object.
// Any malformed value stops the process at start-up with a ConfigError naming the variable.
import { isIP } from "node:net";
import { hostname } from "node:os";
import { ConfigError } from "@waymark/api";
import { DEFAULT_TEMPLATE_LIMITS, type TemplateLimits } from "@waymark/inja";
import { type ExtAuthzProvider, parseMeshConfig } from "./translate/authorization/mesh-config.ts";
import { MAX_ROUTES_ENV, TEMPLATE_LIMIT_ENV } from "./translate/limits.ts";
import { DEFAULT_WAYPOINT_TRACING_SAMPLING, type WaypointTracingSettings } from "./translate/types.ts";

export interface TranslatorConfig {
  /** NATS server URLs (comma-separated in the environment). */
  natsServers: readonly string[];
  /** spec.controllerName of the GatewayClasses Waymark owns. */
  controllerName: string;
  /** The waypoint GatewayClass name. */
  waypointClassName: string;
  /** Address the waypoint listeners bind. */
  bindAddress: string;
  /** A build starts once no change has arrived for this long… */
  debounceQuietMs: number;
  /** …but never later than this after the first pending change. */
  debounceMaxMs: number;
  /** How long an unreferenced blob stays in wm-xds before it is deleted. */
  blobGraceMs: number;
  /** Elect one publishing leader among replicas through a NATS KV lease (WAYMARK_LEADER_ELECTION). */
  leaderElection: boolean;
  /** The lease's lifetime without renewal: a standby takes over within about this long. */
  leaderTtlMs: number;
  /** This replica's name in the lease (default host-pid; the chart sets the pod name). */
  leaderId: string;
  /** HTTPRoutes programmed per waypoint (WAYMARK_MAX_ROUTES_PER_WAYPOINT, default 5000). */
  maxRoutesPerWaypoint?: number;
  /** TrafficPolicy template caps (WAYMARK_TEMPLATE_MAX_*); the inja defaults for those not set. */
  templateLimits?: Readonly<TemplateLimits>;
  /** Istio's root namespace (WAYMARK_ROOT_NAMESPACE, default istio-system). */
  rootNamespace: string;
  /** The mesh trust domain (WAYMARK_TRUST_DOMAIN, default cluster.local). */
  trustDomain: string;
  /** Its aliases (WAYMARK_TRUST_DOMAIN_ALIASES, comma-separated, default none). */
  trustDomainAliases: readonly string[];
  /** X-Forwarded-For hops the waypoints trust (WAYMARK_XFF_TRUSTED_HOPS, default 0). */
  xffTrustedHops: number;
  /**
   * The waypoints' tracing provider (WAYMARK_WAYPOINT_TRACING=otlp-grpc://host:port, sampling
   * WAYMARK_WAYPOINT_TRACING_SAMPLING, default 1%); absent when not set.
   */
  waypointTracing?: Readonly<WaypointTracingSettings>;
  /**
   * The mesh config's ext_authz extensionProviders (WAYMARK_MESH_CONFIG: the mesh config YAML, as in
   * the istio ConfigMap's `mesh` key), which AuthorizationPolicies with action CUSTOM name; absent when
   * not set.
   */
  extensionProviders?: readonly ExtAuthzProvider[];
}

const MESH_CONFIG_ENV = "WAYMARK_MESH_CONFIG";

function extensionProviders(env: Env): readonly ExtAuthzProvider[] | undefined {
  const raw = env[MESH_CONFIG_ENV];
  if (raw === undefined || raw.trim() === "") return undefined;
  try {
    return Object.freeze(parseMeshConfig(raw));
  } catch (e) {
    throw new ConfigError(`${MESH_CONFIG_ENV}: ${(e as Error).message}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const NATS_SCHEMES = new Set(["nats:", "tls:", "ws:", "wss:"]);
// Gateway API's patterns for GatewayClass.spec.controllerName and for object names (DNS-1123 subdomain).
const CONTROLLER_NAME =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;
// A namespace name (DNS-1123 label), and a SPIFFE trust domain (lower-case letters, digits, ".", "-", "_").
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
/** Envoy takes any uint32; more hops than this is surely a mistake. */
const MAX_XFF_TRUSTED_HOPS = 64;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? fallback : v;
}

function millis(env: Env, name: string, fallback: number, min: number): number {
  const raw = str(env, name, String(fallback));
  if (!/^\d+$/.test(raw))
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected a whole number of milliseconds`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name}=${raw}: must be at least ${min}`);
  return n;
}

/** A positive whole number within [1, max]; undefined when the variable is not set. */
function count(env: Env, name: string, max: number): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected a whole number from 1 to ${max}`);
  return n;
}

/** The largest value each template limit may be set to. */
const TEMPLATE_LIMIT_MAX: Readonly<Record<keyof TemplateLimits, number>> = {
  maxLength: 1 << 20,
  maxExpressionDepth: 256,
  maxBlockDepth: 64,
  maxLoops: 256,
  maxElements: 100_000,
};

function templateLimits(env: Env): Readonly<TemplateLimits> | undefined {
  let set = false;
  const limits: TemplateLimits = { ...DEFAULT_TEMPLATE_LIMITS };
  for (const key of Object.keys(TEMPLATE_LIMIT_MAX) as Array<keyof TemplateLimits>) {
    const n = count(env, TEMPLATE_LIMIT_ENV[key], TEMPLATE_LIMIT_MAX[key]);
    if (n === undefined) continue;
    limits[key] = n;
    set = true;
  }
  return set ? Object.freeze(limits) : undefined;
}

function trustDomain(name: string, value: string): string {
  if (value.length > 255 || !TRUST_DOMAIN.test(value))
    throw new ConfigError(
      `${name}: ${JSON.stringify(value)} is not a trust domain (lower-case letters, digits, ".", "-" and "_", e.g. cluster.local)`,
    );
  return value;
}

/** The authorization settings (issue 13): root namespace, trust domains, trusted XFF hops. */
function authorization(env: Env) {
  const rootNamespace = str(env, "WAYMARK_ROOT_NAMESPACE", "istio-system");
  if (rootNamespace.length > 63 || !LABEL.test(rootNamespace))
    throw new ConfigError(
      `WAYMARK_ROOT_NAMESPACE=${JSON.stringify(rootNamespace)}: expected a namespace name (lower-case DNS label)`,
    );
  const td = trustDomain("WAYMARK_TRUST_DOMAIN", str(env, "WAYMARK_TRUST_DOMAIN", "cluster.local"));
  const aliases: string[] = [];
  for (const a of str(env, "WAYMARK_TRUST_DOMAIN_ALIASES", "").split(",")) {
    const alias = a.trim();
    if (alias === "") continue;
    trustDomain("WAYMARK_TRUST_DOMAIN_ALIASES", alias);
    if (alias !== td && !aliases.includes(alias)) aliases.push(alias);
  }
  const rawHops = str(env, "WAYMARK_XFF_TRUSTED_HOPS", "0");
  const hops = Number(rawHops);
  if (!/^\d+$/.test(rawHops) || hops > MAX_XFF_TRUSTED_HOPS)
    throw new ConfigError(
      `WAYMARK_XFF_TRUSTED_HOPS=${JSON.stringify(rawHops)}: expected a whole number from 0 to ${MAX_XFF_TRUSTED_HOPS}`,
    );
  return {
    rootNamespace,
    trustDomain: td,
    trustDomainAliases: Object.freeze(aliases),
    xffTrustedHops: hops,
  };
}

const TRACING_ENV = "WAYMARK_WAYPOINT_TRACING";
const TRACING_SAMPLING_ENV = "WAYMARK_WAYPOINT_TRACING_SAMPLING";
const OTLP_GRPC_PORT = 4317;

/** The waypoints' OpenTelemetry collector: otlp-grpc://host[:port] (port 4317 by default). */
function waypointTracing(env: Env): Readonly<WaypointTracingSettings> | undefined {
  const raw = str(env, TRACING_ENV, "");
  const rawSampling = str(env, TRACING_SAMPLING_ENV, "");
  if (raw === "") {
    if (rawSampling !== "")
      throw new ConfigError(`${TRACING_SAMPLING_ENV} is set but ${TRACING_ENV} (the collector) is not`);
    return undefined;
  }
  const bad = (why: string) =>
    new ConfigError(
      `${TRACING_ENV}=${JSON.stringify(raw)}: ${why} (expected otlp-grpc://host:port, e.g. otlp-grpc://otel-collector.observability:4317)`,
    );
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad("not a URL");
  }
  if (url.protocol !== "otlp-grpc:") throw bad("the scheme must be otlp-grpc");
  if (url.username || url.password || (url.pathname !== "" && url.pathname !== "/") || url.search || url.hash)
    throw bad("only a host and a port may be given");
  // The URL parser keeps a non-special scheme's host as written: lower-case it, unbracket IPv6.
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (host === "" || (isIP(host) === 0 && (host.length > 253 || !SUBDOMAIN.test(host))))
    throw bad("the host must be a DNS name or an IP address");
  const port = url.port === "" ? OTLP_GRPC_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad("the port must be 1 to 65535");
  let randomSampling = DEFAULT_WAYPOINT_TRACING_SAMPLING;
  if (rawSampling !== "") {
    randomSampling = Number(rawSampling);
    if (!/^\d+(\.\d{1,2})?$/.test(rawSampling) || randomSampling > 100)
      throw new ConfigError(
        `${TRACING_SAMPLING_ENV}=${JSON.stringify(rawSampling)}: expected a percentage from 0 to 100 with at most two decimals, e.g. 1 or 0.5`,
      );
  }
  return Object.freeze({ host, port, randomSampling });
}

function natsServers(env: Env): string[] {
  const name = "WAYMARK_NATS_URL";
  const raw = str(env, name, "nats://127.0.0.1:4222");
  const urls = raw.split(",").map((s) => s.trim());
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new ConfigError(
        `${name}: ${JSON.stringify(u)} is not a URL (expected e.g. nats://127.0.0.1:4222)`,
      );
    }
    if (!NATS_SCHEMES.has(parsed.protocol) || !parsed.hostname) {
      throw new ConfigError(
        `${name}: ${JSON.stringify(u)} must be a nats://, tls://, ws:// or wss:// URL with a host`,
      );
    }
  }
  return urls;
}

export function loadConfig(env: Env = process.env): Readonly<TranslatorConfig> {
  const controllerName = str(env, "WAYMARK_CONTROLLER_NAME", "waymark.dev/waymark");
  if (!CONTROLLER_NAME.test(controllerName)) {
    throw new ConfigError(
      `WAYMARK_CONTROLLER_NAME=${JSON.stringify(controllerName)}: expected a domain-prefixed path such as waymark.dev/waymark`,
    );
  }
  const waypointClassName = str(env, "WAYMARK_WAYPOINT_CLASS", "kgateway-waypoint");
  if (waypointClassName.length > 253 || !SUBDOMAIN.test(waypointClassName)) {
    throw new ConfigError(
      `WAYMARK_WAYPOINT_CLASS=${JSON.stringify(waypointClassName)}: expected a Kubernetes object name (lower-case DNS subdomain)`,
    );
  }
  const bindAddress = str(env, "WAYMARK_BIND_ADDRESS", "::");
  if (isIP(bindAddress) === 0) {
    throw new ConfigError(
      `WAYMARK_BIND_ADDRESS=${JSON.stringify(bindAddress)}: expected an IPv4 or IPv6 address`,
    );
  }
  const debounceQuietMs = millis(env, "WAYMARK_DEBOUNCE_QUIET_MS", 50, 0);
  const debounceMaxMs = millis(env, "WAYMARK_DEBOUNCE_MAX_MS", 1000, 0);
  if (debounceMaxMs < debounceQuietMs) {
    throw new ConfigError(
      `WAYMARK_DEBOUNCE_MAX_MS=${debounceMaxMs} is shorter than WAYMARK_DEBOUNCE_QUIET_MS=${debounceQuietMs}`,
    );
  }
  const blobGraceMs = millis(env, "WAYMARK_BLOB_GRACE_MS", 60_000, 0);
  const election = str(env, "WAYMARK_LEADER_ELECTION", "off");
  if (election !== "on" && election !== "off") {
    throw new ConfigError(`WAYMARK_LEADER_ELECTION=${JSON.stringify(election)}: expected on or off`);
  }
  const leaderTtlMs = millis(env, "WAYMARK_LEADER_TTL_MS", 5000, 1000);
  const leaderId = str(env, "WAYMARK_LEADER_ID", `${hostname()}-${process.pid}`);
  const maxRoutesPerWaypoint = count(env, MAX_ROUTES_ENV, 1_000_000);
  const limits = templateLimits(env);
  const authz = authorization(env);
  const tracing = waypointTracing(env);
  const providers = extensionProviders(env);
  return Object.freeze({
    natsServers: Object.freeze(natsServers(env)),
    controllerName,
    waypointClassName,
    bindAddress,
    debounceQuietMs,
    debounceMaxMs,
    blobGraceMs,
    leaderElection: election === "on",
    leaderTtlMs,
    leaderId,
    ...(maxRoutesPerWaypoint === undefined ? {} : { maxRoutesPerWaypoint }),
    ...(limits === undefined ? {} : { templateLimits: limits }),
    ...authz,
    ...(tracing === undefined ? {} : { waypointTracing: tracing }),
    ...(providers === undefined ? {} : { extensionProviders: providers }),
  });
}
