// What the per-stream protocol state machines (sotw.ts, delta.ts) produce: responses to write and
// the proxy's verdict on an earlier response. Both machines are pure apart from the nonce source.
import { PUSH_ORDER, TypeUrl } from "@waymark/envoy-proto";
import type { WireMessage } from "./wire.ts";

export interface Outgoing {
  typeUrl: string;
  /** version_info (SotW) or system_version_info (delta): the type's version in the snapshot. */
  version: string;
  nonce: string;
  /** What the stream writes: the body shared with every stream the change goes to, plus the nonce. */
  message: WireMessage;
  /** The whole encoded DiscoveryResponse / DeltaDiscoveryResponse, copied on each read (tests). */
  readonly body: Buffer;
  /** Resource names sent, and (delta) names removed, for logs and tests. */
  names: readonly string[];
  removed: readonly string[];
}

/** An Outgoing for a message (a shared, nonce-less body and this response's nonce). */
export function outgoing(
  r: { typeUrl: string; version: string; names: readonly string[]; removed: readonly string[] },
  message: WireMessage,
): Outgoing {
  return {
    ...r,
    nonce: message.nonce,
    message,
    get body() {
      return message.bytes();
    },
  };
}

/** An ACK or NACK of an earlier response of this stream. */
export interface Verdict {
  kind: "ack" | "nack";
  typeUrl: string;
  /** The version of the response the proxy answered (not the version_info it echoed). */
  version: string;
  nonce: string;
  message?: string;
}

export interface Step {
  responses: Outgoing[];
  verdict?: Verdict;
  /**
   * The proxy opened this type already holding the snapshot's version (it reconnected, perhaps from
   * another replica), so nothing is sent: its record must still say it holds that version.
   */
  holds?: { typeUrl: string; version: string };
  /** True when the request was ignored (SotW: stale nonce). */
  ignored?: boolean;
}

/**
 * A response that was not sent because it would exceed the stream's send limit. The client keeps what
 * it holds of that type; the session sends again once the snapshot changes.
 */
export interface Refusal {
  typeUrl: string;
  version: string;
  /** The size the response would have had (or, with `resource`, that resource's share of it). */
  bytes: number;
  limit: number;
  /** The resource that alone does not fit (delta); undefined = the response as a whole (SotW). */
  resource?: string;
  /** The same version was already refused on this stream (log it once). */
  repeated: boolean;
}

export interface SessionOptions {
  /** The largest response (encoded DiscoveryResponse / DeltaDiscoveryResponse) to send, in bytes. */
  maxBytes?: number;
}

/** Produces a fresh, stream-unique nonce for each response. */
export type NonceSource = () => string;

/** What the SotW and delta sessions share: the nonce source, per-type state, the send limit. */
export abstract class Session<TypeState> {
  protected readonly nonce: NonceSource;
  protected readonly typeStates = new Map<string, TypeState>();
  protected readonly maxBytes: number;
  protected refusals: Refusal[] = [];

  constructor(nonce: NonceSource, opts: SessionOptions = {}) {
    this.nonce = nonce;
    this.maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  }

  /** Responses refused as too large since the last call (the stream logs and records them). */
  takeRefusals(): Refusal[] {
    const r = this.refusals;
    this.refusals = [];
    return r;
  }

  /** The types this stream has asked for. */
  get types(): string[] {
    return [...this.typeStates.keys()];
  }
}

/** Types for which an empty first subscription means "everything" (legacy wildcard). */
export function allowsLegacyWildcard(typeUrl: string): boolean {
  return typeUrl === TypeUrl.cluster || typeUrl === TypeUrl.listener;
}

/** The order in which to consider types on a push: CDS, EDS, LDS, RDS, then any others by name. */
export function pushOrder(types: Iterable<string>): string[] {
  const rank = (t: string) => {
    const i = (PUSH_ORDER as readonly string[]).indexOf(t);
    return i < 0 ? PUSH_ORDER.length : i;
  };
  return [...types].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
