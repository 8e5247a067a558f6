// State-of-the-world ADS, one instance per stream. Input: a request or a new snapshot; output: the
// responses to send. Rules (xds_protocol.rst): a fresh nonce per response; a request whose nonce is
// not the type's last one is stale and ignored; ACK/NACK is read from the request answering the last
// nonce (NACK = error_detail set); a NACKed version is never re-sent, only a newer one; LDS/CDS
// responses carry the full set, RDS/EDS the subscribed names; respond only when the client lacks
// something (a reconnecting client that echoes the current version is sent nothing).
import type { DiscoveryRequest } from "@waymark/envoy-proto";
import { allowsLegacyWildcard, type NonceSource, type Outgoing, pushOrder, type Step } from "./protocol.ts";
import type { Snapshot } from "./snapshot.ts";
import { withSotwNonce } from "./wire.ts";

interface TypeState {
  wildcard: boolean;
  /** The client has sent a non-empty resource_names list at least once (ends legacy wildcard). */
  explicit: boolean;
  names: Set<string>;
  /** The version the client holds or was last sent (sent counts even if NACKed: never resend it). */
  knownVersion: string;
  /** Names the client holds at knownVersion ("all": the full set). */
  knownNames: Set<string> | "all";
  /** Nonce and version of the last response sent for this type. */
  nonce?: string;
  sentVersion?: string;
}

export type SotwRequest = Pick<
  DiscoveryRequest,
  "typeUrl" | "versionInfo" | "resourceNames" | "responseNonce" | "errorDetail"
>;

export class SotwSession {
  readonly #nonce: NonceSource;
  readonly #types = new Map<string, TypeState>();

  constructor(nonce: NonceSource) {
    this.#nonce = nonce;
  }

  /** The types this stream has asked for. */
  get types(): string[] {
    return [...this.#types.keys()];
  }

  onRequest(req: SotwRequest, snap: Snapshot | undefined): Step {
    const t = req.typeUrl;
    const names = req.resourceNames.filter((n) => n !== "*");
    const star = names.length !== req.resourceNames.length;
    let st = this.#types.get(t);
    let verdict: Step["verdict"];
    if (!st) {
      // First request of this type on this stream. A non-empty version_info is what the client kept
      // from an earlier stream (maybe another replica): it already holds the names it asks for.
      const wildcard = star || (req.resourceNames.length === 0 && allowsLegacyWildcard(t));
      st = {
        wildcard,
        explicit: req.resourceNames.length > 0,
        names: new Set(names),
        knownVersion: req.versionInfo,
        knownNames: req.versionInfo ? (wildcard ? "all" : new Set(names)) : new Set(),
      };
      this.#types.set(t, st);
    } else {
      if (req.responseNonce && req.responseNonce !== st.nonce) return { responses: [], ignored: true };
      if (req.responseNonce && st.sentVersion !== undefined) {
        verdict = req.errorDetail
          ? {
              kind: "nack",
              typeUrl: t,
              version: st.sentVersion,
              nonce: req.responseNonce,
              message: req.errorDetail.message,
            }
          : { kind: "ack", typeUrl: t, version: st.sentVersion, nonce: req.responseNonce };
      }
      if (req.resourceNames.length === 0) {
        st.wildcard = !st.explicit && allowsLegacyWildcard(t);
      } else {
        st.explicit = true;
        st.wildcard = star;
      }
      st.names = new Set(names);
    }
    const out = snap ? this.#respond(t, st, snap) : undefined;
    return verdict ? { responses: out ? [out] : [], verdict } : { responses: out ? [out] : [] };
  }

  /** Responses owed after the snapshot changed, in push order (CDS, EDS, LDS, RDS). */
  onSnapshot(snap: Snapshot | undefined): Outgoing[] {
    if (!snap) return [];
    const out: Outgoing[] = [];
    for (const t of pushOrder(this.#types.keys())) {
      const r = this.#respond(t, this.#types.get(t)!, snap);
      if (r) out.push(r);
    }
    return out;
  }

  #respond(t: string, st: TypeState, snap: Snapshot): Outgoing | undefined {
    const ts = snap.type(t);
    let body: Uint8Array;
    let sent: string[];
    if (st.wildcard) {
      if (st.knownVersion === ts.version && st.knownNames === "all") return undefined;
      body = ts.fullBody;
      sent = [...ts.resources.keys()];
      st.knownNames = "all";
    } else {
      sent = [...st.names].filter((n) => ts.resources.has(n)).sort();
      const known = st.knownNames;
      if (st.knownVersion === ts.version && (known === "all" || sent.every((n) => known.has(n)))) {
        return undefined;
      }
      body = ts.partialBody(sent);
      st.knownNames = new Set(sent);
    }
    const nonce = this.#nonce();
    st.knownVersion = ts.version;
    st.sentVersion = ts.version;
    st.nonce = nonce;
    return {
      typeUrl: t,
      version: ts.version,
      nonce,
      body: withSotwNonce(body, nonce),
      names: sent,
      removed: [],
    };
  }
}
