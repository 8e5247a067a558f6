// State-of-the-world ADS, one instance per stream. Input: a request or a new snapshot; output: the
// responses to send. Rules (xds_protocol.rst): a fresh nonce per response; a request whose nonce is
// not the type's last one is stale and ignored; ACK/NACK is read from the request answering the last
// nonce (NACK = error_detail set); a NACKed version is never re-sent, only a newer one; LDS/CDS
// responses carry the full set, RDS/EDS the subscribed names; respond only when the client lacks
// something (a reconnecting client that echoes the current version is sent nothing). A response larger
// than the send limit is not sent (takeRefusals): the client keeps what it holds of that type.
import { type DiscoveryRequest, TypeUrl } from "@waymark/envoy-proto";
import { allowsLegacyWildcard, type Outgoing, outgoing, pushOrder, Session, type Step } from "./protocol.ts";
import type { Snapshot, TypeSnapshot } from "./snapshot.ts";
import { WireMessage } from "./wire.ts";

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
  /** Send even if the client holds this version (EDS after a cluster it covers changed). */
  resend?: boolean;
  /** The version and names of the last response refused as too large. */
  refused?: string | undefined;
}

export type SotwRequest = Pick<
  DiscoveryRequest,
  "typeUrl" | "versionInfo" | "resourceNames" | "responseNonce" | "errorDetail"
>;

export class SotwSession extends Session<TypeState> {
  /** The clusters (name → hash) of the last CDS response sent. */
  #clusters: ReadonlyMap<string, string> | undefined;
  /** Clusters changed before the client asked for endpoints: its first EDS request is answered. */
  #resendEndpoints = false;

  onRequest(req: SotwRequest, snap: Snapshot | undefined): Step {
    const t = req.typeUrl;
    const names = req.resourceNames.filter((n) => n !== "*");
    const star = names.length !== req.resourceNames.length;
    let st = this.typeStates.get(t);
    let verdict: Step["verdict"];
    let reopened = false;
    if (!st) {
      reopened = req.versionInfo !== "";
      // First request of this type on this stream. A non-empty version_info is what the client kept
      // from an earlier stream (maybe another replica): it already holds the names it asks for.
      const wildcard = star || (req.resourceNames.length === 0 && allowsLegacyWildcard(t));
      st = {
        wildcard,
        explicit: req.resourceNames.length > 0,
        names: new Set(names),
        knownVersion: req.versionInfo,
        knownNames: req.versionInfo ? (wildcard ? "all" : new Set(names)) : new Set(),
        ...(t === TypeUrl.endpoint && this.#resendEndpoints ? { resend: true } : {}),
      };
      this.typeStates.set(t, st);
      if (t === TypeUrl.endpoint) this.#resendEndpoints = false;
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
    // Reconnected already holding this version: nothing to send, and it holds it.
    const holds =
      reopened && snap && !out && st.refused === undefined
        ? { typeUrl: t, version: snap.type(t).version }
        : undefined;
    const responses = out ? [out] : [];
    // A CDS response that changed clusters is followed by their endpoints (see onSnapshot).
    const eds = this.typeStates.get(TypeUrl.endpoint);
    if (out && t === TypeUrl.cluster && eds?.resend && snap) {
      const e = this.#respond(TypeUrl.endpoint, eds, snap);
      if (e) responses.push(e);
    }
    return { responses, ...(verdict ? { verdict } : {}), ...(holds ? { holds } : {}) };
  }

  /** Responses owed after the snapshot changed, in push order (CDS, EDS, LDS, RDS). */
  onSnapshot(snap: Snapshot | undefined): Outgoing[] {
    if (!snap) return [];
    const out: Outgoing[] = [];
    for (const t of pushOrder(this.typeStates.keys())) {
      const r = this.#respond(t, this.typeStates.get(t)!, snap);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * Envoy re-warms a changed cluster and waits for its endpoints without asking for them again (it
   * already holds their version): the next EDS response must go out even at the same version, else
   * the cluster warms only after the initial fetch timeout (15 s by default).
   */
  #clustersSent(ts: TypeSnapshot, heldVersion: string): void {
    const before = this.#clusters;
    this.#clusters = new Map([...ts.resources.values()].map((e) => [e.name, e.hash]));
    // The first CDS response of a stream, to a client that held another version from an earlier
    // stream: which clusters changed is unknown, so any may be re-warming.
    const changed = before
      ? [...ts.resources.values()].some((e) => {
          const old = before.get(e.name);
          return old !== undefined && old !== e.hash;
        })
      : heldVersion !== "" && heldVersion !== ts.version;
    if (!changed) return;
    const eds = this.typeStates.get(TypeUrl.endpoint);
    if (eds) eds.resend = true;
    else this.#resendEndpoints = true;
  }

  #respond(t: string, st: TypeState, snap: Snapshot): Outgoing | undefined {
    const ts = snap.type(t);
    let body: Uint8Array;
    let sent: string[];
    let knownNames: Set<string> | "all";
    const resend = st.resend === true;
    if (st.wildcard) {
      if (!resend && st.knownVersion === ts.version && st.knownNames === "all") return undefined;
      body = ts.fullBody;
      sent = [...ts.resources.keys()];
      knownNames = "all";
    } else {
      sent = [...st.names].filter((n) => ts.resources.has(n)).sort();
      const known = st.knownNames;
      if (!resend && st.knownVersion === ts.version && (known === "all" || sent.every((n) => known.has(n)))) {
        return undefined;
      }
      body = ts.partialBody(sent);
      knownNames = new Set(sent);
    }
    const nonce = this.nonce();
    const message = new WireMessage(body, nonce);
    if (message.byteLength > this.maxBytes) {
      // Not sent: the client keeps what it holds; a later snapshot is tried again.
      const key = `${ts.version}\u0000${sent.join("\u0000")}`;
      this.refusals.push({
        typeUrl: t,
        version: ts.version,
        bytes: message.byteLength,
        limit: this.maxBytes,
        repeated: st.refused === key,
      });
      st.refused = key;
      return undefined;
    }
    st.refused = undefined;
    const heldVersion = st.knownVersion;
    st.knownNames = knownNames;
    st.knownVersion = ts.version;
    st.sentVersion = ts.version;
    st.nonce = nonce;
    st.resend = false;
    if (t === TypeUrl.cluster) this.#clustersSent(ts, heldVersion);
    return outgoing({ typeUrl: t, version: ts.version, names: sent, removed: [] }, message);
  }
}
