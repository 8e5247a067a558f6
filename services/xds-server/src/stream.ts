// One ADS stream: reads requests, feeds them and snapshot changes to its protocol session, writes the
// responses, and reports what it sent and what the proxy said to the tracker.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { describeError, type Logger } from "@waymark/api";
import { buckets } from "@waymark/bus";
import type { DeltaDiscoveryRequest, DiscoveryRequest } from "@waymark/envoy-proto";
import { parseNodeCluster } from "@waymark/waypoint";
import type { TokenAuthenticator } from "./auth/authenticator.ts";
import { refusal } from "./auth/identity.ts";
import { TokenError } from "./auth/jwt.ts";
import { DeltaSession } from "./delta.ts";
import { shortType, type XdsMetrics } from "./metrics.ts";
import type { Outgoing, Step } from "./protocol.ts";
import type { ProxyTracker } from "./proxies.ts";
import type { Pushable, PushQueue } from "./push-queue.ts";
import { PushTrace } from "./push-trace.ts";
import type { Snapshot } from "./snapshot.ts";
import type { SnapshotStore } from "./snapshots.ts";
import { SotwSession } from "./sotw.ts";
import type { WireMessage } from "./wire.ts";

export type Protocol = "sotw" | "delta";

/** The longest a Node timer waits (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface StreamDeps {
  store: SnapshotStore;
  tracker: ProxyTracker;
  queue: PushQueue;
  log: Logger;
  metrics: XdsMetrics;
  /** This replica's name (span attributes). */
  replica: string;
  /** Verifies each stream's proxy token and its waypoint; undefined = no authentication. */
  auth?: TokenAuthenticator | undefined;
  /** The largest response to send (bytes); a larger one is refused, logged and recorded. */
  maxSendBytes?: number | undefined;
  /** Called once the stream's waypoint (manifest key) is known. */
  attach(stream: AdsStream, key: string): void;
  /** Called once when the stream ends. */
  detach(stream: AdsStream): void;
}

export type AdsCall = ServerDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, WireMessage>;

export class AdsStream implements Pushable {
  readonly id: string;
  readonly protocol: Protocol;
  readonly #call: AdsCall;
  readonly #deps: StreamDeps;
  readonly #sotw: SotwSession | undefined;
  readonly #delta: DeltaSession | undefined;
  #log: Logger;
  #key: string | undefined;
  #nodeId = "";
  #trace: PushTrace | undefined;
  #blocked = false;
  #dirty = false;
  #closed = false;
  #expiry: NodeJS.Timeout | undefined;
  /** When the stream's token stops being accepted (ms since the epoch, authenticator clock). */
  #deadline: number | undefined;

  constructor(id: string, protocol: Protocol, call: AdsCall, deps: StreamDeps) {
    this.id = id;
    this.protocol = protocol;
    this.#call = call;
    this.#deps = deps;
    let n = 0;
    const nonce = () => `${id}-${++n}`;
    const limits = deps.maxSendBytes !== undefined ? { maxBytes: deps.maxSendBytes } : {};
    if (protocol === "sotw") this.#sotw = new SotwSession(nonce, limits);
    else this.#delta = new DeltaSession(nonce, limits);
    this.#log = deps.log.child({ stream: id, protocol });
    call.on("data", (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      try {
        this.#onRequest(req);
      } catch (err) {
        this.#log.error("request handling failed", { err });
        this.#fail(GrpcStatus.INTERNAL, "internal error");
      }
    });
    call.on("drain", () => {
      this.#blocked = false;
      if (this.#dirty) this.#deps.queue.schedule(this);
    });
    call.on("end", () => {
      this.#close("client closed");
      call.end();
    });
    call.on("cancelled", () => this.#close("cancelled"));
    call.on("error", (err: Error) => this.#close(`error: ${err.message}`));
    call.on("close", () => this.#close("closed"));
  }

  get key(): string | undefined {
    return this.#key;
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  /** Sends what the latest snapshot adds (called from the push queue). */
  push(): void {
    if (this.#closed || !this.#key) return;
    if (this.#blocked) {
      this.#dirty = true;
      return;
    }
    this.#dirty = false;
    const snap = this.#deps.store.get(this.#key);
    this.#send(this.#sotw ? this.#sotw.onSnapshot(snap) : this.#delta!.onSnapshot(snap), snap);
    this.#refused();
  }

  /** Ends the stream with OK (the proxy reconnects, e.g. to another replica). */
  end(): void {
    if (this.#closed) return;
    this.#close("server shutdown");
    try {
      this.#call.end();
    } catch {
      // already gone
    }
  }

  #onRequest(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (this.#closed) return;
    if (!this.#key) {
      const cluster = req.node?.cluster ?? "";
      const waypoint = parseNodeCluster(cluster);
      if (!waypoint) {
        this.#fail(
          GrpcStatus.INVALID_ARGUMENT,
          req.node
            ? `node.cluster ${JSON.stringify(cluster)} is not <gateway>.<namespace>`
            : "the first request of a stream must carry node",
        );
        return;
      }
      this.#nodeId = req.node?.id || `unnamed-${this.id}`;
      if (this.#deps.auth && !this.#authorize(waypoint)) return;
      this.#key = buckets.manifests.key(waypoint);
      this.#log = this.#log.child({ node: this.#nodeId, waypoint: `${waypoint.namespace}/${waypoint.name}` });
      this.#deps.tracker.open(this.id, this.#nodeId, waypoint, this.protocol);
      this.#trace = new PushTrace(
        {
          nodeId: this.#nodeId,
          waypoint: `${waypoint.namespace}/${waypoint.name}`,
          replica: this.#deps.replica,
          protocol: this.protocol,
          connectedAt: Date.now(),
        },
        this.#deps.metrics,
      );
      this.#deps.attach(this, this.#key);
      this.#log.info("proxy connected", { snapshot: this.#deps.store.get(this.#key)?.version ?? null });
    } else if (this.#deadline !== undefined && this.#deadline <= this.#deps.auth!.now()) {
      this.#armExpiry();
      return;
    }
    if (!req.typeUrl) {
      this.#fail(GrpcStatus.INVALID_ARGUMENT, "type_url is required on an aggregated stream");
      return;
    }
    const snap = this.#deps.store.get(this.#key);
    const step: Step = this.#sotw
      ? this.#sotw.onRequest(req as DiscoveryRequest, snap)
      : this.#delta!.onRequest(req as DeltaDiscoveryRequest, snap);
    if (step.ignored) this.#log.debug("stale nonce ignored", { type: req.typeUrl, nonce: req.responseNonce });
    if (step.verdict) {
      this.#deps.tracker.verdict(this.id, step.verdict);
      const ids = this.#trace?.verdict(step.verdict);
      if (step.verdict.kind === "nack") {
        this.#log.warn("proxy rejected config", {
          type: step.verdict.typeUrl,
          version: step.verdict.version,
          error: step.verdict.message,
          ...ids,
        });
      }
    }
    // A proxy that reconnected holding the current version is recorded as holding it (as ACKed):
    // no response goes out, so no ACK would ever say so.
    if (step.holds) this.#deps.tracker.verdict(this.id, { kind: "ack", ...step.holds, nonce: "" });
    this.#send(step.responses, snap);
    this.#refused();
  }

  /** Reports responses the session refused as too large: logged, counted, recorded in wm-proxies. */
  #refused(): void {
    for (const r of (this.#sotw ?? this.#delta)!.takeRefusals()) {
      const what = r.resource
        ? `resource ${r.resource} takes ${r.bytes} bytes`
        : `the response would be ${r.bytes} bytes`;
      const message = `${what}, more than the xds-server's send limit of ${r.limit} bytes (WAYMARK_XDS_MAX_SEND_BYTES); the proxy keeps its last good configuration of this type`;
      if (r.repeated) {
        this.#log.debug("response too large; not sent", { type: r.typeUrl, version: r.version });
        continue;
      }
      this.#deps.metrics.tooLarge.inc({ type: shortType(r.typeUrl) });
      this.#deps.tracker.refused(this.id, r.typeUrl, r.version, message);
      this.#log.warn("response too large; not sent", {
        type: r.typeUrl,
        version: r.version,
        bytes: r.bytes,
        limit: r.limit,
        ...(r.resource ? { resource: r.resource } : {}),
      });
    }
  }

  /**
   * Checks the stream's token against the waypoint the proxy asks for; fails the stream when it does
   * not prove an identity (UNAUTHENTICATED) or proves another one (PERMISSION_DENIED). A served
   * stream ends when its token expires (#armExpiry).
   */
  #authorize(waypoint: { namespace: string; name: string }): boolean {
    const auth = this.#deps.auth!;
    const header = this.#call.metadata.get("authorization")[0];
    let identity: ReturnType<TokenAuthenticator["authenticate"]>;
    try {
      identity = auth.authenticate(typeof header === "string" ? header : header?.toString("utf8"));
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      this.#deps.metrics.authRejections.inc({ reason: err.problem });
      this.#fail(
        GrpcStatus.UNAUTHENTICATED,
        `proxy ${this.#nodeId} for waypoint ${waypoint.namespace}/${waypoint.name}: ${describeError(err)}`,
      );
      return false;
    }
    const why = refusal(identity, waypoint);
    if (why) {
      this.#deps.metrics.authRejections.inc({ reason: "forbidden" });
      this.#fail(GrpcStatus.PERMISSION_DENIED, `proxy ${this.#nodeId}: ${why}`);
      return false;
    }
    this.#log = this.#log.child({ identity: `${identity.namespace}/${identity.serviceAccount}` });
    this.#deadline = auth.deadline(identity);
    return !this.#armExpiry();
  }

  /**
   * Ends the stream once its token has expired (UNAUTHENTICATED, counted): a timer at the deadline,
   * on the authenticator's clock, re-armed while the deadline is beyond what one timer can wait;
   * each request checks it as well. The proxy reconnects with its rotated token.
   */
  #armExpiry(): boolean {
    const auth = this.#deps.auth;
    if (!auth || this.#deadline === undefined || this.#closed) return false;
    const left = this.#deadline - auth.now();
    if (left <= 0) {
      this.#deps.metrics.tokenExpiries.inc();
      this.#fail(
        GrpcStatus.UNAUTHENTICATED,
        `proxy ${this.#nodeId}: the stream's token expired at ${new Date(this.#deadline - 1).toISOString()} (with the tolerated skew); reconnect with a fresh token`,
      );
      return true;
    }
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#armExpiry(), Math.min(left, MAX_TIMER_MS));
    this.#expiry.unref();
    return false;
  }

  #send(out: Outgoing[], snap: Snapshot | undefined): void {
    for (const o of out) {
      if (this.#closed) return;
      if (!this.#call.write(o.message)) this.#blocked = true;
      this.#deps.tracker.sent(this.id, o.typeUrl, o.version);
      this.#trace?.sent(o, snap);
      this.#log.debug("sent", {
        type: o.typeUrl,
        version: o.version,
        nonce: o.nonce,
        resources: o.names.length,
        removed: o.removed.length,
      });
    }
  }

  #fail(code: GrpcStatus, details: string): void {
    if (this.#closed) return;
    this.#log.warn("stream rejected", { details });
    this.#close(details);
    this.#call.emit("error", { code, details });
  }

  #close(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    this.#deps.queue.cancel(this);
    this.#deps.detach(this);
    this.#deps.tracker.close(this.id);
    this.#trace?.close(why);
    if (this.#key) this.#log.info("proxy disconnected", { why });
  }
}
