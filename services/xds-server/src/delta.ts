// Incremental (delta) ADS, one instance per stream. Input: a request or a new snapshot; output: the
// responses to send. Resource versions are blob hashes, so a reconnecting client's
// initial_resource_versions are compared directly and matching resources are not resent.
// Subscription changes apply even when the nonce is stale. Names the client subscribed to that do not
// exist are answered in removed_resources and remembered: they are pushed when they appear. An update
// larger than the send limit is split over several responses; one whose single resource does not fit
// is not sent at all (takeRefusals), and the client keeps what it holds of that type.
import { type DeltaDiscoveryRequest, TypeUrl } from "@waymark/envoy-proto";
import {
  allowsLegacyWildcard,
  byName,
  type Outgoing,
  outgoing,
  pushOrder,
  type Refusal,
  Session,
  type Step,
  type Verdict,
} from "./protocol.ts";
import type { ResourceEntry, Snapshot } from "./snapshot.ts";
import { WireMessage } from "./wire.ts";

/** Unanswered responses remembered per type (for matching ACK/NACK nonces). */
const MAX_IN_FLIGHT = 32;

interface TypeState {
  wildcard: boolean;
  subscribed: Set<string>;
  /** What the client holds (or was sent): name → hash. */
  client: Map<string, string>;
  /** Subscribed names already reported as absent (not reported again until they come and go). */
  reportedMissing: Set<string>;
  /** Names unsubscribed while a wildcard still covers them: the client dropped them, answer anew. */
  reanswer: Set<string>;
  /** The first response is still owed (a fresh wildcard subscription gets one even if empty). */
  firstOwed: boolean;
  inFlight: Map<string, string>;
  /** The version (and resource) of the last update refused as too large. */
  refused?: string | undefined;
}

export type DeltaRequest = Pick<
  DeltaDiscoveryRequest,
  | "typeUrl"
  | "resourceNamesSubscribe"
  | "resourceNamesUnsubscribe"
  | "initialResourceVersions"
  | "responseNonce"
  | "errorDetail"
>;

export class DeltaSession extends Session<TypeState> {
  /**
   * Clusters sent changed, which Envoy re-warms, waiting for their endpoints without asking for them
   * again: their endpoints are owed even when they did not change (else the cluster warms only after
   * the initial fetch timeout, 15 s by default).
   */
  #rewarm = new Set<string>();

  onRequest(req: DeltaRequest, snap: Snapshot | undefined): Step {
    const t = req.typeUrl;
    let st = this.typeStates.get(t);
    let reopened = false;
    if (!st) {
      const initial = Object.entries(req.initialResourceVersions ?? {});
      reopened = initial.length > 0;
      st = {
        wildcard: req.resourceNamesSubscribe.length === 0 && allowsLegacyWildcard(t),
        subscribed: new Set(),
        client: new Map(initial),
        reportedMissing: new Set(),
        reanswer: new Set(),
        firstOwed: initial.length === 0,
        inFlight: new Map(),
      };
      this.typeStates.set(t, st);
      if (t === TypeUrl.endpoint) this.#owe(st);
    }
    let verdict: Verdict | undefined;
    const sentVersion = req.responseNonce ? st.inFlight.get(req.responseNonce) : undefined;
    if (sentVersion !== undefined) {
      // Responses are answered in order: this one and every earlier one are settled.
      for (const n of st.inFlight.keys()) {
        st.inFlight.delete(n);
        if (n === req.responseNonce) break;
      }
      verdict = req.errorDetail
        ? {
            kind: "nack",
            typeUrl: t,
            version: sentVersion,
            nonce: req.responseNonce,
            message: req.errorDetail.message,
          }
        : { kind: "ack", typeUrl: t, version: sentVersion, nonce: req.responseNonce };
    }
    for (const n of req.resourceNamesSubscribe) {
      if (n === "*") st.wildcard = true;
      else {
        st.subscribed.add(n);
        st.reportedMissing.delete(n);
      }
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === "*") {
        st.wildcard = false;
        continue;
      }
      st.subscribed.delete(n);
      st.reportedMissing.delete(n);
      st.client.delete(n);
      if (st.wildcard) st.reanswer.add(n);
    }
    const held = t === TypeUrl.cluster ? new Set(st.client.keys()) : undefined;
    const out = snap ? this.#respond(t, st, snap) : [];
    // A changed cluster in answer to a request (a client reconnecting after it changed) is re-warmed
    // as after a push: its endpoints follow now, or as soon as the client asks for endpoints.
    if (held && snap) {
      this.#clustersSent(held, out);
      const eds = this.typeStates.get(TypeUrl.endpoint);
      if (eds && this.#rewarm.size > 0) {
        this.#owe(eds);
        out.push(...this.#respond(TypeUrl.endpoint, eds, snap));
      }
    }
    // Reconnected holding exactly what it wants of the snapshot: nothing to send, and it holds it.
    const holds =
      reopened && snap && out.length === 0 && st.refused === undefined
        ? { typeUrl: t, version: snap.type(t).version }
        : undefined;
    return { responses: out, ...(verdict ? { verdict } : {}), ...(holds ? { holds } : {}) };
  }

  /** Responses owed after the snapshot changed, in push order (CDS, EDS, LDS, RDS). */
  onSnapshot(snap: Snapshot | undefined): Outgoing[] {
    if (!snap) return [];
    const out: Outgoing[] = [];
    for (const t of pushOrder(this.typeStates.keys())) {
      const st = this.typeStates.get(t)!;
      if (t === TypeUrl.endpoint) this.#owe(st);
      const held = t === TypeUrl.cluster ? new Set(st.client.keys()) : undefined;
      const rs = this.#respond(t, st, snap);
      out.push(...rs);
      if (held) this.#clustersSent(held, rs);
    }
    return out;
  }

  /** Remembers the clusters among those sent that the client held before (changed: re-warmed). */
  #clustersSent(held: ReadonlySet<string>, sent: readonly Outgoing[]): void {
    for (const r of sent) for (const n of r.names) if (held.has(n)) this.#rewarm.add(n);
  }

  /** Marks the owed endpoints as not held by the client, so the next EDS answer carries them. */
  #owe(eds: TypeState): void {
    for (const n of this.#rewarm) eds.client.delete(n);
    this.#rewarm.clear();
  }

  #respond(t: string, st: TypeState, snap: Snapshot): Outgoing[] {
    const ts = snap.type(t);
    const send: ResourceEntry[] = [];
    const removed: string[] = [];
    // What to restore if the response is refused as too large: the client then holds what it held.
    const undo: Array<() => void> = [];
    const setClient = (n: string, hash: string | undefined) => {
      const before = st.client.get(n);
      undo.push(() => (before === undefined ? st.client.delete(n) : st.client.set(n, before)));
      if (hash === undefined) st.client.delete(n);
      else st.client.set(n, hash);
    };
    const setMissing = (n: string, missing: boolean) => {
      if (st.reportedMissing.has(n) === missing) return;
      undo.push(() => (missing ? st.reportedMissing.delete(n) : st.reportedMissing.add(n)));
      if (missing) st.reportedMissing.add(n);
      else st.reportedMissing.delete(n);
    };
    const interested = (n: string) => st.subscribed.has(n) || (st.wildcard && ts.resources.has(n));
    // Whatever the client holds that is gone or no longer wanted.
    for (const n of [...st.client.keys()]) {
      if (!interested(n) || !ts.resources.has(n)) {
        setClient(n, undefined);
        removed.push(n);
        if (st.subscribed.has(n)) setMissing(n, true);
      }
    }
    // Everything wanted that the client lacks or holds at another version.
    const consider = (e: ResourceEntry) => {
      if (st.client.get(e.name) !== e.hash) {
        send.push(e);
        setClient(e.name, e.hash);
      }
      setMissing(e.name, false);
    };
    if (st.wildcard) for (const e of ts.resources.values()) consider(e);
    for (const n of st.subscribed) {
      const e = ts.resources.get(n);
      if (e) {
        if (!st.wildcard) consider(e);
      } else if (!st.reportedMissing.has(n)) {
        setMissing(n, true);
        if (!removed.includes(n)) removed.push(n);
      }
    }
    // Names unsubscribed under a wildcard: the present ones were re-sent above; report the others.
    for (const n of st.reanswer) {
      if (!ts.resources.has(n) && !removed.includes(n)) removed.push(n);
    }
    const first = st.firstOwed && st.wildcard;
    if (send.length === 0 && removed.length === 0 && !first) {
      st.reanswer.clear();
      st.firstOwed = false;
      return [];
    }
    send.sort((a, b) => byName(a.name, b.name));
    removed.sort(byName);
    const parts = splitResponse(send, removed, this.maxBytes, ts);
    if ("refusal" in parts) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      const key = `${ts.version}\u0000${parts.refusal.resource ?? ""}`;
      this.refusals.push({ ...parts.refusal, repeated: st.refused === key });
      st.refused = key;
      return [];
    }
    st.refused = undefined;
    st.reanswer.clear();
    st.firstOwed = false;
    const out: Outgoing[] = [];
    for (const part of parts.responses) {
      const nonce = this.nonce();
      const message = new WireMessage(ts.deltaBody(part.send, part.removed), nonce);
      st.inFlight.set(nonce, ts.version);
      if (st.inFlight.size > MAX_IN_FLIGHT) st.inFlight.delete(st.inFlight.keys().next().value!);
      out.push(
        outgoing(
          { typeUrl: t, version: ts.version, names: part.send.map((e) => e.name), removed: part.removed },
          message,
        ),
      );
    }
    return out;
  }
}

/** Room for a response's own fields (type URL, version, nonce) besides its resources. */
const RESPONSE_OVERHEAD = 512;

/** The bytes a length-delimited field of `n` bytes takes in a message (tag, length, value). */
function fieldSize(n: number): number {
  let v = 1;
  for (let x = n; x >= 0x80; x = Math.floor(x / 128)) v++;
  return 1 + v + n;
}

interface Part {
  send: ResourceEntry[];
  removed: string[];
}

/**
 * Splits one type's delta update into responses of at most maxBytes each: Envoy applies each delta
 * response on its own, so several responses of one type are as good as one. Resources go first, in
 * name order; removals go last, so a replacement arrives before what it replaces goes away. A single
 * resource larger than a response refuses the whole update.
 */
function splitResponse(
  send: readonly ResourceEntry[],
  removed: readonly string[],
  maxBytes: number,
  ts: { typeUrl: string; version: string },
): { responses: Part[] } | { refusal: Omit<Refusal, "repeated"> } {
  const room = maxBytes - RESPONSE_OVERHEAD - ts.typeUrl.length - ts.version.length;
  const parts: Part[] = [{ send: [], removed: [] }];
  let used = 0;
  const fit = (size: number): boolean => {
    if (used + size <= room) {
      used += size;
      return true;
    }
    if (used === 0) return false;
    parts.push({ send: [], removed: [] });
    used = size;
    return size <= room;
  };
  for (const e of send) {
    const size = fieldSize(e.delta.length);
    if (!fit(size)) {
      return {
        refusal: { typeUrl: ts.typeUrl, version: ts.version, bytes: size, limit: maxBytes, resource: e.name },
      };
    }
    parts.at(-1)!.send.push(e);
  }
  for (const n of removed) {
    const size = fieldSize(Buffer.byteLength(n));
    if (!fit(size)) {
      return {
        refusal: { typeUrl: ts.typeUrl, version: ts.version, bytes: size, limit: maxBytes, resource: n },
      };
    }
    parts.at(-1)!.removed.push(n);
  }
  return { responses: parts };
}
