// One simulated Envoy: its own HTTP/2 connection (a channel that is never pooled) and one ADS stream,
// delta or state-of-the-world, behaving as Envoy does: wildcard CDS and LDS, then EDS for the EDS
// clusters and RDS for the route configurations the listeners' HTTP connection managers name; every
// response ACKed with its nonce (and, in SotW, its version), or NACKed if this proxy is told to reject
// updates. On reconnect it tells the server what it holds (SotW versions, delta initial versions).
import * as grpc from "@grpc/grpc-js";
import {
  adsService,
  create,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  TypeUrl,
} from "@waymark/envoy-proto";
import type { RefCache } from "./refs.ts";
import { readAny, readDeltaResource, readResponse } from "./wire.ts";

export type XdsProtocol = "delta" | "sotw";

export interface ProxySpec {
  /** node.id */
  id: string;
  /** node.cluster: `<gateway>.<namespace>` */
  cluster: string;
  protocol: XdsProtocol;
  /** Reject every update after the first response of each type (error_detail set). */
  nack?: boolean;
}

export interface ProxyHooks {
  /** The proxy ACKed (or NACKed) a response of this type and version at `at` (epoch ms). */
  onVerdict?(p: SimProxy, typeUrl: string, version: string, kind: "ack" | "nack", at: number): void;
  /** The stream failed or ended (the proxy reconnects on its own unless stopped). */
  onDisconnect?(p: SimProxy, why: string): void;
}

const now = () => performance.timeOrigin + performance.now();

/** The ADS methods with responses left as raw bytes (read by wire.ts), requests encoded by protobuf-es. */
const rawAds = {
  StreamAggregatedResources: {
    ...adsService.StreamAggregatedResources,
    responseDeserialize: (b: Buffer) => b,
  },
  DeltaAggregatedResources: { ...adsService.DeltaAggregatedResources, responseDeserialize: (b: Buffer) => b },
};
const ClientCtor = grpc.makeGenericClientConstructor(rawAds, "AggregatedDiscoveryService");
/** Envoy's default HTTP/2 initial stream and connection window (Http2ProtocolOptions). */
const ENVOY_HTTP2_WINDOW = 256 * 1024 * 1024;
type RawClient = grpc.Client & Record<string, () => grpc.ClientDuplexStream<unknown, Buffer>>;

/** Versions remembered per type for ACK times (older ones are dropped). */
const KEEP_VERSIONS = 64;

export interface TypeCounters {
  responses: number;
  bytes: number;
  resources: number;
  acks: number;
  nacks: number;
}

/** Adds `c` to the counters of type `t` in `into`. */
export function addCounters(into: Record<string, TypeCounters>, t: string, c: TypeCounters): void {
  const s = into[t] ?? { responses: 0, bytes: 0, resources: 0, acks: 0, nacks: 0 };
  s.responses += c.responses;
  s.bytes += c.bytes;
  s.resources += c.resources;
  s.acks += c.acks;
  s.nacks += c.nacks;
  into[t] = s;
}

interface TypeState {
  /** SotW: the last accepted version_info. */
  accepted: string;
  /** The type has been accepted (or rejected) at least once. */
  answered: boolean;
  nonce: string;
  /** EDS / RDS names this proxy wants. */
  names: Set<string>;
  /** Delta: name → version held. */
  held: Map<string, string>;
  /** CDS / LDS: name → the EDS / RDS names it refers to (delta); SotW keeps the last full set. */
  refs: Map<string, readonly string[]>;
  acked: Map<string, number>;
  nacked: Map<string, number>;
  counters: TypeCounters;
}

const TYPES = [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route] as const;
const CHILD: Record<string, string> = {
  [TypeUrl.cluster]: TypeUrl.endpoint,
  [TypeUrl.listener]: TypeUrl.route,
};

export class SimProxy {
  readonly spec: ProxySpec;
  readonly #cache: RefCache;
  readonly #hooks: ProxyHooks;
  readonly #types = new Map<string, TypeState>();
  #client: RawClient | undefined;
  #call: grpc.ClientDuplexStream<unknown, Buffer> | undefined;
  #target = "";
  #nodeSent = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  connected = false;
  reconnects = 0;
  /** When the current stream was opened (epoch ms). */
  openedAt = 0;

  constructor(spec: ProxySpec, cache: RefCache, hooks: ProxyHooks = {}) {
    this.spec = spec;
    this.#cache = cache;
    this.#hooks = hooks;
    for (const t of TYPES) {
      this.#types.set(t, {
        accepted: "",
        answered: false,
        nonce: "",
        names: new Set(),
        held: new Map(),
        refs: new Map(),
        acked: new Map(),
        nacked: new Map(),
        counters: { responses: 0, bytes: 0, resources: 0, acks: 0, nacks: 0 },
      });
    }
  }

  /** Opens (or re-opens) the stream to `target` (host:port), telling the server what it holds. */
  connect(target: string): void {
    this.#teardown();
    this.#stopped = false;
    this.#target = target;
    // A unique channel option keeps grpc-js from sharing one connection among proxies.
    this.#client = new ClientCtor(target, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      // Envoy's HTTP/2 stream and connection windows default to 256 MiB, so a server never waits for
      // its WINDOW_UPDATE in the middle of a response (Node's default is 64 KiB).
      "grpc-node.flow_control_window": ENVOY_HTTP2_WINDOW,
      "grpc.use_local_subchannel_pool": 1,
      "waymark.loadgen.proxy": this.spec.id,
    }) as unknown as RawClient;
    const method = this.spec.protocol === "delta" ? "DeltaAggregatedResources" : "StreamAggregatedResources";
    const call = this.#client[method]!();
    this.#call = call;
    this.#nodeSent = false;
    this.openedAt = now();
    this.connected = true;
    call.on("data", (b: Buffer) => {
      if (call !== this.#call) return;
      try {
        this.#onResponse(b);
      } catch (err) {
        this.#lost(`bad response: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    call.on("error", (e: Error) => {
      if (call === this.#call) this.#lost(e.message);
    });
    call.on("end", () => {
      if (call === this.#call) this.#lost("server ended the stream");
    });
    // Envoy's first requests: wildcard CDS and LDS, plus whatever it already holds.
    for (const t of TYPES) {
      const st = this.#types.get(t)!;
      if (t === TypeUrl.cluster || t === TypeUrl.listener || st.names.size > 0) this.#subscribe(t, st, true);
    }
  }

  /** Ends the stream and connection for good. */
  stop(): void {
    this.#stopped = true;
    this.#teardown();
  }

  /** Drops the current stream without reconnecting (the caller reconnects). */
  disconnect(): void {
    this.#teardown();
  }

  type(typeUrl: string): Readonly<TypeState> {
    return this.#types.get(typeUrl)!;
  }

  /** When this proxy ACKed `version` of a type (epoch ms), if it did. */
  ackedAt(typeUrl: string, version: string): number | undefined {
    return this.#types.get(typeUrl)?.acked.get(version);
  }

  nackedAt(typeUrl: string, version: string): number | undefined {
    return this.#types.get(typeUrl)?.nacked.get(version);
  }

  /** Every type it needs has been answered at least once. */
  get synced(): boolean {
    for (const t of TYPES) {
      const st = this.#types.get(t)!;
      const needed = t === TypeUrl.cluster || t === TypeUrl.listener || st.names.size > 0;
      if (needed && !st.answered) return false;
    }
    return true;
  }

  counters(): Record<string, TypeCounters> {
    return Object.fromEntries([...this.#types].map(([t, s]) => [t, { ...s.counters }]));
  }

  #teardown(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const call = this.#call;
    this.#call = undefined;
    this.connected = false;
    if (call) {
      call.removeAllListeners("data");
      call.on("error", () => {});
      call.cancel();
    }
    this.#client?.close();
    this.#client = undefined;
  }

  #lost(why: string): void {
    this.#teardown();
    this.#hooks.onDisconnect?.(this, why);
    if (this.#stopped) return;
    // Envoy retries with a jittered backoff.
    this.#retry = setTimeout(
      () => {
        this.reconnects++;
        this.connect(this.#target);
      },
      250 + Math.random() * 500,
    );
  }

  #write(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    this.#call?.write(req);
  }

  #node() {
    if (this.#nodeSent) return {};
    this.#nodeSent = true;
    return { node: { id: this.spec.id, cluster: this.spec.cluster } };
  }

  /** A subscription request: the first of a stream (initial = true) or a change of names. */
  #subscribe(t: string, st: TypeState, initial: boolean): void {
    const wildcard = t === TypeUrl.cluster || t === TypeUrl.listener;
    if (this.spec.protocol === "sotw") {
      this.#write(
        create(DiscoveryRequestSchema, {
          typeUrl: t,
          versionInfo: st.accepted,
          resourceNames: wildcard ? [] : [...st.names].sort(),
          responseNonce: initial ? "" : st.nonce,
          ...this.#node(),
        }),
      );
      return;
    }
    if (initial) {
      const held: Record<string, string> = {};
      for (const [n, v] of st.held) if (wildcard || st.names.has(n)) held[n] = v;
      this.#write(
        create(DeltaDiscoveryRequestSchema, {
          typeUrl: t,
          resourceNamesSubscribe: wildcard ? [] : [...st.names].sort(),
          initialResourceVersions: held,
          ...this.#node(),
        }),
      );
    }
  }

  /** Delta: tells the server the EDS / RDS names added and dropped. */
  #deltaChange(t: string, st: TypeState, add: string[], drop: string[]): void {
    if (add.length === 0 && drop.length === 0) return;
    for (const n of drop) st.held.delete(n);
    this.#write(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: t,
        resourceNamesSubscribe: add.sort(),
        resourceNamesUnsubscribe: drop.sort(),
        ...this.#node(),
      }),
    );
  }

  /** Sets the EDS / RDS names wanted after a CDS / LDS update. */
  #want(childType: string, names: Set<string>): void {
    const st = this.#types.get(childType)!;
    const add = [...names].filter((n) => !st.names.has(n));
    const drop = [...st.names].filter((n) => !names.has(n));
    if (add.length === 0 && drop.length === 0) return;
    st.names = names;
    if (this.spec.protocol === "sotw") this.#subscribe(childType, st, !st.answered && st.nonce === "");
    else this.#deltaChange(childType, st, add, drop);
  }

  #remember(map: Map<string, number>, version: string, at: number): void {
    map.delete(version);
    map.set(version, at);
    if (map.size > KEEP_VERSIONS) map.delete(map.keys().next().value!);
  }

  #onResponse(b: Buffer): void {
    const r = readResponse(b);
    const st = this.#types.get(r.typeUrl);
    if (!st) return;
    st.counters.responses++;
    st.counters.bytes += b.length;
    st.counters.resources += r.resources.length;
    st.nonce = r.nonce;
    const reject = this.spec.nack === true && st.answered;
    const child = CHILD[r.typeUrl];
    if (!reject) {
      if (this.spec.protocol === "sotw") {
        if (child) {
          const refs = new Set<string>();
          for (const a of r.resources) {
            const any = readAny(a);
            for (const n of this.#cache.read(r.typeUrl, any.value).refs) refs.add(n);
          }
          this.#want(child, refs);
        }
      } else {
        for (const n of r.removed) {
          st.held.delete(n);
          st.refs.delete(n);
        }
        for (const raw of r.resources) {
          const res = readDeltaResource(raw);
          st.held.set(res.name, res.version);
          if (child && res.any) st.refs.set(res.name, this.#cache.read(r.typeUrl, res.any.value).refs);
        }
        if (child) {
          const refs = new Set<string>();
          for (const list of st.refs.values()) for (const n of list) refs.add(n);
          this.#want(child, refs);
        }
      }
    }
    const at = now();
    if (reject) {
      st.counters.nacks++;
      this.#remember(st.nacked, r.version, at);
      this.#write(this.#verdict(r.typeUrl, st, "simulated rejection of an update"));
      this.#hooks.onVerdict?.(this, r.typeUrl, r.version, "nack", at);
    } else {
      st.accepted = r.version;
      st.counters.acks++;
      this.#remember(st.acked, r.version, at);
      this.#write(this.#verdict(r.typeUrl, st));
      this.#hooks.onVerdict?.(this, r.typeUrl, r.version, "ack", at);
    }
    st.answered = true;
  }

  #verdict(t: string, st: TypeState, error?: string): DiscoveryRequest | DeltaDiscoveryRequest {
    const errorDetail = error !== undefined ? { errorDetail: { code: 3, message: error } } : {};
    if (this.spec.protocol === "sotw") {
      const wildcard = t === TypeUrl.cluster || t === TypeUrl.listener;
      return create(DiscoveryRequestSchema, {
        typeUrl: t,
        versionInfo: st.accepted,
        resourceNames: wildcard ? [] : [...st.names].sort(),
        responseNonce: st.nonce,
        ...errorDetail,
        ...this.#node(),
      });
    }
    return create(DeltaDiscoveryRequestSchema, {
      typeUrl: t,
      responseNonce: st.nonce,
      ...errorDetail,
      ...this.#node(),
    });
  }
}
