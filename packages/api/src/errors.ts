// Waymark's one error type. Every error Waymark throws on purpose is a WaymarkError with a code from the
// closed set below; the table says, for each code, what it means and what the user should do about it.
// A code is stable: logs carry it as a field (see log.ts), tests and callers may match on it.

/** What one error code means and what to do about it. */
export interface ErrorCodeInfo {
  /** Which part of Waymark raises it. */
  readonly source: string;
  /** What went wrong, in one sentence. */
  readonly meaning: string;
  /** What the user should do: an imperative sentence, composed into user-visible messages. */
  readonly fix: string;
}

/** Every error code Waymark uses. Adding one means adding its row to ERROR_CODES (the compiler checks). */
export type ErrorCode =
  // Start-up and sources.
  | "invalid-config"
  | "source-unavailable"
  | "kube-api"
  | "issuer-keys"
  | "infra-unknown-kind"
  // NATS.
  | "nats-connect"
  | "kv-put-failed"
  // Translator: reading objects and building snapshots.
  | "malformed-entry"
  | "invalid-resource"
  | "invalid-snapshot"
  // TrafficPolicy templates (@waymark/inja).
  | "template-syntax"
  | "template-unterminated"
  | "template-unsupported"
  | "template-unknown-function"
  | "template-unknown-variable"
  | "template-arity"
  | "template-unavailable"
  | "template-limit"
  | "template-render"
  // xds-server: proxy tokens.
  | "token-malformed"
  | "token-unsupported-algorithm"
  | "token-unknown-key"
  | "token-bad-signature"
  | "token-wrong-issuer"
  | "token-wrong-audience"
  | "token-expired"
  | "token-not-yet-valid"
  | "token-no-keys"
  // Tools: ztunnel stand-in and load generator.
  | "usage"
  | "invalid-proxy-header"
  | "loadgen"
  | "wire-error";

const TEMPLATE_FIX =
  "Edit the template the message points at (line and column) in the TrafficPolicy, then apply it again.";

/** The table of codes: docs/observability.md lists the same rows for readers. */
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorCodeInfo>> = {
  "invalid-config": {
    source: "every service, at start-up",
    meaning: "an environment variable has a value the service cannot use; the service stops at start-up",
    fix: "Set the environment variable the message names to a value it accepts (in the Helm chart: the value that sets it) and start the service again.",
  },
  "source-unavailable": {
    source: "watcher",
    meaning:
      "the watcher's source (a directory of YAML, a kubeconfig, the in-cluster service account) cannot be read",
    fix: "Check WAYMARK_SOURCE: the directory or kubeconfig must exist and be readable by the watcher's user; in a cluster, the pod needs its service-account token mounted.",
  },
  "kube-api": {
    source: "watcher",
    meaning: "the Kubernetes API server refused a request or could not be reached",
    fix: "Check that the API server is reachable from the watcher and that the watcher's service account has the chart's RBAC rules; the watcher retries on its own.",
  },
  "issuer-keys": {
    source: "watcher",
    meaning:
      "the API server's service-account issuer documents are not usable (no issuer, or no RSA/EC public key)",
    fix: "Check that the API server serves /.well-known/openid-configuration and /openid/v1/jwks (service-account issuer discovery) and that the watcher may read them.",
  },
  "infra-unknown-kind": {
    source: "watcher",
    meaning:
      "the wm-infra bucket holds an object of a kind the watcher does not write to Kubernetes (a translator of another Waymark version wrote it)",
    fix: "Run the watcher and the translator of the same Waymark version.",
  },
  "nats-connect": {
    source: "every service and the waymark CLI, at start-up",
    meaning: "NATS refused the connection (credentials, TLS, or a URL that is not a NATS server)",
    fix: "Check WAYMARK_NATS_URL (and its user:password, if any) and the WAYMARK_NATS_TLS_* files against the NATS server's configuration.",
  },
  "kv-put-failed": {
    source: "every service that writes NATS",
    meaning: "a NATS KV write was refused, nothing answered it, or its acknowledgement did not come in time",
    fix: "Check that NATS is running with JetStream enabled and has room (storage, max_payload); the write is retried.",
  },
  "malformed-entry": {
    source: "translator",
    meaning:
      "an entry of the wm-objects bucket is not an object envelope the watcher writes; the translator skips it",
    fix: "Only the watcher should write wm-objects: delete the entry the message names (nats kv del wm-objects <key>) and let the watcher publish the object again.",
  },
  "invalid-resource": {
    source: "translator, waymark config-dump",
    meaning: "an xDS resource does not match Envoy's protos (unknown field, wrong type, unknown @type)",
    fix: "Report it as a Waymark bug with the objects that produced the resource; the waypoint keeps its last good configuration meanwhile.",
  },
  "invalid-snapshot": {
    source: "translator",
    meaning:
      "a waypoint's snapshot breaks an xDS or NATS limit (two resources of one type with one name, a resource or manifest larger than a NATS message)",
    fix: "Raise the NATS server's max_payload, or attach fewer routes to the waypoint; for a duplicate resource name, report a Waymark bug. The waypoint keeps its last good configuration meanwhile.",
  },
  "template-syntax": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a template is not valid template syntax",
    fix: TEMPLATE_FIX,
  },
  "template-unterminated": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a string, comment or tag of a template is never closed",
    fix: TEMPLATE_FIX,
  },
  "template-unsupported": {
    source: "translator (TrafficPolicy templates)",
    meaning:
      "a template uses a feature Waymark's templates do not support (filters, tests, map literals, slices, …)",
    fix: `${TEMPLATE_FIX} Use one of the supported functions instead.`,
  },
  "template-unknown-function": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a template calls a function that does not exist",
    fix: `${TEMPLATE_FIX} Use one of the supported functions.`,
  },
  "template-unknown-variable": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a template names a variable that is not defined there",
    fix: TEMPLATE_FIX,
  },
  "template-arity": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a template calls a function with the wrong number of arguments",
    fix: TEMPLATE_FIX,
  },
  "template-unavailable": {
    source: "translator (TrafficPolicy templates)",
    meaning:
      "a template uses something this phase or body setting does not provide (e.g. context() without body.parseAs: AsJson)",
    fix: "Change the TrafficPolicy so the template has what it uses (e.g. set body.parseAs: AsJson), or remove the use.",
  },
  "template-limit": {
    source: "translator (TrafficPolicy templates)",
    meaning: "a template exceeds a size or nesting limit",
    fix: "Make the template smaller or less nested; where the message names a translator setting, an operator may raise it.",
  },
  "template-render": {
    source: "@waymark/inja's reference evaluator (tests and tools)",
    meaning: "a checked template failed while it was rendered",
    fix: "Check the values given to the template (headers, body, JSON) against what it expects.",
  },
  "token-malformed": {
    source: "xds-server",
    meaning: "a proxy's bearer token is missing or is not a Kubernetes service-account JWT",
    fix: "Give the waypoint proxy a projected service-account token with the xds-server's audience and send it as `authorization: Bearer <token>` (the waypoint deployments Waymark writes do).",
  },
  "token-unsupported-algorithm": {
    source: "xds-server",
    meaning:
      "a proxy's token is signed with an algorithm the xds-server does not accept (RS256/384/512 and ES256/384/512 are)",
    fix: "Use a token issued by the cluster's API server (its service-account signing key).",
  },
  "token-unknown-key": {
    source: "xds-server",
    meaning: "a proxy's token is signed by a key that is not among the issuer's published keys",
    fix: "Use a token of this cluster; after a key rotation, wait for the watcher to publish the new keys to wm-issuer.",
  },
  "token-bad-signature": {
    source: "xds-server",
    meaning: "a proxy's token signature does not verify",
    fix: "Use an unmodified token issued by the cluster's API server.",
  },
  "token-wrong-issuer": {
    source: "xds-server",
    meaning: "a proxy's token, or the published keys, belong to another issuer than the configured one",
    fix: "Use a token of this cluster, or set WAYMARK_XDS_TOKEN_ISSUER on the xds-server to the cluster's service-account issuer (or unset it).",
  },
  "token-wrong-audience": {
    source: "xds-server",
    meaning: "a proxy's token is not meant for the xds-server",
    fix: "Request the proxy's projected token with the audience WAYMARK_XDS_TOKEN_AUDIENCE (default waymark), the same on translator and xds-server.",
  },
  "token-expired": {
    source: "xds-server",
    meaning: "a proxy's token has expired",
    fix: "Let the kubelet rotate the projected token (the proxy reconnects with it); check the node's clock.",
  },
  "token-not-yet-valid": {
    source: "xds-server",
    meaning: "a proxy's token is not valid yet (nbf in the future)",
    fix: "Check that the clocks of the nodes and the xds-server agree.",
  },
  "token-no-keys": {
    source: "xds-server",
    meaning: "the xds-server knows no issuer keys yet, so it can verify no token",
    fix: "Check that the watcher runs in Kubernetes mode and publishes the issuer's keys to wm-issuer (see its issuer-keys log lines); proxies are accepted once it has.",
  },
  usage: {
    source: "ztunnel stand-in (command line)",
    meaning: "the command-line arguments are not valid",
    fix: "Correct the arguments as the usage text shows.",
  },
  "invalid-proxy-header": {
    source: "ztunnel stand-in",
    meaning: "a PROXY protocol header cannot be built from the given addresses or identity",
    fix: "Correct the addresses or identity the message names in the stand-in's arguments.",
  },
  loadgen: {
    source: "xds load generator (tool)",
    meaning: "a load-generator worker failed or exited",
    fix: "Read the worker's error above; check the xds-server address and that the machine has the memory and file descriptors for the number of proxies asked for.",
  },
  "wire-error": {
    source: "xds load generator (tool)",
    meaning: "an xDS response could not be read (truncated or malformed protobuf)",
    fix: "Check that the address points at a Waymark xds-server speaking the same xDS version; otherwise report a bug with the response.",
  },
};

export interface WaymarkErrorOptions extends ErrorOptions {
  /** What to do about this error, when it says more than its code's fix in ERROR_CODES. */
  fix?: string;
}

/** Base of Waymark's typed errors: a code from the closed set, a message, and what to do about it. */
export class WaymarkError extends Error {
  readonly code: ErrorCode;
  /** What the user should do: the instance's own hint, else its code's. */
  readonly fix: string;
  constructor(code: ErrorCode, message: string, options?: WaymarkErrorOptions) {
    super(message, options);
    this.name = "WaymarkError";
    this.code = code;
    this.fix = options?.fix ?? ERROR_CODES[code].fix;
  }
}

/** True for a WaymarkError of any subclass. */
export function isWaymarkError(err: unknown): err is WaymarkError {
  return err instanceof WaymarkError;
}

/** True when `code` is one of Waymark's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

/**
 * The text to show a user: a WaymarkError's message followed by what to fix; any other error's
 * message as it is.
 */
export function describeError(err: unknown): string {
  if (isWaymarkError(err)) {
    const m = err.message.trimEnd();
    return `${m}${/[.!?]$/.test(m) ? "" : "."} ${err.fix}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Invalid configuration at start-up: the process stops with this message. */
export class ConfigError extends WaymarkError {
  constructor(message: string, options?: WaymarkErrorOptions) {
    super("invalid-config", message, options);
    this.name = "ConfigError";
  }
}
