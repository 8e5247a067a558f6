// Incremental (delta) ADS, one instance per stream. Input: a request or a new snapshot; output: the
// responses to send. Resource versions are blob hashes, so a reconnecting client's
// initial_resource_versions are compared directly and matching resources are not resent.
// Subscription changes apply even when the nonce is stale. Names the client subscribed to that do not
// exist are answered in removed_resources and remembered: they are pushed when they appear.
import { type DeltaDiscoveryRequest, TypeUrl } from "@waymark/envoy-proto";
import {
  allowsLegacyWildcard,
  byName,
  type NonceSource,
  type Outgoing,
  pushOrder,
  type Step,
  type Verdict,
} from "./protocol.ts";
import type { ResourceEntry, Snapshot } from "./snapshot.ts";
import { encodeDeltaResponse } from "./wire.ts";

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

export class DeltaSession {
  readonly #nonce: NonceSource;
  readonly #types = new Map<string, TypeState>();

  constructor(nonce: NonceSource) {
    this.#nonce = nonce;
  }

  get types(): string[] {
    return [...this.#types.keys()];
  }

  onRequest(req: DeltaRequest, snap: Snapshot | undefined): Step {
    const t = req.typeUrl;
    let st = this.#types.get(t);
    if (!st) {
      const initial = Object.entries(req.initialResourceVersions ?? {});
      st = {
        wildcard: req.resourceNamesSubscribe.length === 0 && allowsLegacyWildcard(t),
        subscribed: new Set(),
        client: new Map(initial),
        reportedMissing: new Set(),
        reanswer: new Set(),
        firstOwed: initial.length === 0,
        inFlight: new Map(),
      };
      this.#types.set(t, st);
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
    const out = snap ? this.#respond(t, st, snap) : undefined;
    return { responses: out ? [out] : [], ...(verdict ? { verdict } : {}) };
  }

  /** Responses owed after the snapshot changed, in push order (CDS, EDS, LDS, RDS). */
  onSnapshot(snap: Snapshot | undefined): Outgoing[] {
    if (!snap) return [];
    const out: Outgoing[] = [];
    let changedClusters: readonly string[] = [];
    for (const t of pushOrder(this.#types.keys())) {
      const st = this.#types.get(t)!;
      // Envoy re-warms a changed cluster and waits for its endpoints, without asking for them again:
      // send them again even when they did not change (else the cluster warms only after the
      // initial fetch timeout, 15 s by default).
      if (t === TypeUrl.endpoint) for (const n of changedClusters) st.client.delete(n);
      const held = t === TypeUrl.cluster ? new Set(st.client.keys()) : undefined;
      const r = this.#respond(t, st, snap);
      if (r) out.push(r);
      if (r && held) changedClusters = r.names.filter((n) => held.has(n));
    }
    return out;
  }

  #respond(t: string, st: TypeState, snap: Snapshot): Outgoing | undefined {
    const ts = snap.type(t);
    const send: ResourceEntry[] = [];
    const removed: string[] = [];
    const interested = (n: string) => st.subscribed.has(n) || (st.wildcard && ts.resources.has(n));
    // Whatever the client holds that is gone or no longer wanted.
    for (const n of [...st.client.keys()]) {
      if (!interested(n) || !ts.resources.has(n)) {
        st.client.delete(n);
        removed.push(n);
        if (st.subscribed.has(n)) st.reportedMissing.add(n);
      }
    }
    // Everything wanted that the client lacks or holds at another version.
    const consider = (e: ResourceEntry) => {
      if (st.client.get(e.name) !== e.hash) {
        send.push(e);
        st.client.set(e.name, e.hash);
      }
      st.reportedMissing.delete(e.name);
    };
    if (st.wildcard) for (const e of ts.resources.values()) consider(e);
    for (const n of st.subscribed) {
      const e = ts.resources.get(n);
      if (e) {
        if (!st.wildcard) consider(e);
      } else if (!st.reportedMissing.has(n)) {
        st.reportedMissing.add(n);
        if (!removed.includes(n)) removed.push(n);
      }
    }
    // Names unsubscribed under a wildcard: the present ones were re-sent above; report the others.
    for (const n of st.reanswer) {
      if (!ts.resources.has(n) && !removed.includes(n)) removed.push(n);
    }
    st.reanswer.clear();
    const first = st.firstOwed && st.wildcard;
    st.firstOwed = false;
    if (send.length === 0 && removed.length === 0 && !first) return undefined;
    send.sort((a, b) => byName(a.name, b.name));
    removed.sort(byName);
    const nonce = this.#nonce();
    st.inFlight.set(nonce, ts.version);
    if (st.inFlight.size > MAX_IN_FLIGHT) st.inFlight.delete(st.inFlight.keys().next().value!);
    return {
      typeUrl: t,
      version: ts.version,
      nonce,
      body: encodeDeltaResponse({
        systemVersion: ts.version,
        typeUrl: t,
        resources: send.map((e) => e.delta),
        removed,
        nonce,
      }),
      names: send.map((e) => e.name),
      removed,
    };
  }
}
