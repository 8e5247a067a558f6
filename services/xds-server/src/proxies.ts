// ACK/NACK tracking per connected proxy, mirrored to the wm-proxies bucket as one ProxyRecord per
// (replica, node id). Changes are coalesced: a record is written at most once per flush interval, and
// deleted when its stream ends. Records are written only when they change: whether their replica is
// alive is told by its heartbeat (replicas.ts), not by rewriting every record.
import type { Logger, ProxyRecord, ProxyTypeState, WaypointRef } from "@waymark/api";
import { buckets } from "@waymark/bus";
import type { Verdict } from "./protocol.ts";

/** Where records are written: the wm-proxies bucket (a KV bucket, or a faster writer for its puts). */
export interface ProxyRecordStore {
  put(key: string, value: string): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

export interface ProxyTrackerOptions {
  replica: string;
  /** Coalescing window for writes (ms). */
  flushMs?: number;
  now?: () => Date;
}

interface Tracked {
  key: string;
  record: ProxyRecord;
}

export class ProxyTracker {
  readonly #kv: ProxyRecordStore;
  readonly #log: Logger;
  readonly #replica: string;
  readonly #flushMs: number;
  readonly #now: () => Date;
  /** stream id → its proxy. */
  readonly #streams = new Map<string, Tracked>();
  /** KV key → the stream that owns it now (a reconnecting proxy may briefly have two streams). */
  readonly #owners = new Map<string, string>();
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #stopped = false;
  /** Stamped on every record written; see ReplicaHeartbeat. */
  #incarnation = "";

  constructor(kv: ProxyRecordStore, log: Logger, opts: ProxyTrackerOptions) {
    this.#kv = kv;
    this.#log = log;
    this.#replica = opts.replica;
    this.#flushMs = opts.flushMs ?? 100;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Starts writing records under a new incarnation and rewrites every current one: after a restart,
   * or after other replicas took this one for dead and deleted its records.
   */
  setIncarnation(incarnation: string): void {
    if (incarnation === this.#incarnation) return;
    this.#incarnation = incarnation;
    for (const t of this.#streams.values()) t.record.incarnation = incarnation;
    for (const key of this.#owners.keys()) this.#mark(key);
  }

  /** Every proxy connected to this replica now (the debug endpoint). */
  records(): ProxyRecord[] {
    const out: ProxyRecord[] = [];
    for (const [key, id] of this.#owners) {
      const r = this.#streams.get(id)?.record;
      if (r && buckets.proxies.key(this.#replica, r.nodeId) === key) out.push(r);
    }
    return out;
  }

  /** Connected proxies by protocol. */
  counts(): Record<"delta" | "sotw", number> {
    const c = { delta: 0, sotw: 0 };
    for (const r of this.records()) c[r.protocol]++;
    return c;
  }

  open(streamId: string, nodeId: string, waypoint: WaypointRef | null, protocol: "delta" | "sotw"): void {
    const key = buckets.proxies.key(this.#replica, nodeId);
    const at = this.#now().toISOString();
    this.#streams.set(streamId, {
      key,
      record: {
        nodeId,
        waypoint,
        replica: this.#replica,
        protocol,
        connectedAt: at,
        updatedAt: at,
        incarnation: this.#incarnation,
        types: {},
      },
    });
    this.#owners.set(key, streamId);
    this.#mark(key);
  }

  sent(streamId: string, typeUrl: string, version: string): void {
    this.#update(streamId, typeUrl, (s, at) => {
      s.sentVersion = version;
      s.sentAt = at;
      delete s.sendError;
      delete s.sendErrorVersion;
      delete s.sendErrorAt;
    });
  }

  /** A response of this type was too large to send: the proxy stays at what it holds. */
  refused(streamId: string, typeUrl: string, version: string, message: string): void {
    this.#update(streamId, typeUrl, (s, at) => {
      s.sendError = message;
      s.sendErrorVersion = version;
      s.sendErrorAt = at;
    });
  }

  verdict(streamId: string, v: Verdict): void {
    this.#update(streamId, v.typeUrl, (s, at) => {
      if (v.kind === "ack") {
        s.ackedVersion = v.version;
        s.ackedAt = at;
      } else {
        s.nackedVersion = v.version;
        s.nackedAt = at;
        s.nackMessage = v.message ?? "";
      }
    });
  }

  close(streamId: string): void {
    const t = this.#streams.get(streamId);
    if (!t) return;
    this.#streams.delete(streamId);
    if (this.#owners.get(t.key) === streamId) {
      this.#owners.delete(t.key);
      this.#mark(t.key);
    }
  }

  /** The record a stream would write now (for tests and debugging). */
  record(streamId: string): ProxyRecord | undefined {
    return this.#streams.get(streamId)?.record;
  }

  /** Writes every pending change now. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#flushing) await this.#flushing;
    if (this.#dirty.size === 0) return;
    this.#flushing = this.#write().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
  }

  /** Closes every stream's record (deleting it from the bucket) and writes the result. */
  async stop(): Promise<void> {
    for (const id of [...this.#streams.keys()]) this.close(id);
    await this.flush();
    this.#stopped = true;
  }

  #update(streamId: string, typeUrl: string, f: (s: ProxyTypeState, at: string) => void): void {
    const t = this.#streams.get(streamId);
    if (!t) return;
    const at = this.#now().toISOString();
    t.record.types[typeUrl] ??= {};
    f(t.record.types[typeUrl], at);
    t.record.updatedAt = at;
    if (this.#owners.get(t.key) === streamId) this.#mark(t.key);
  }

  #mark(key: string): void {
    this.#dirty.add(key);
    if (!this.#timer && !this.#stopped) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushMs);
    }
  }

  async #write(): Promise<void> {
    const keys = [...this.#dirty];
    this.#dirty.clear();
    const failed: string[] = [];
    await Promise.all(
      keys.map(async (key) => {
        const owner = this.#owners.get(key);
        const rec = owner ? this.#streams.get(owner)?.record : undefined;
        try {
          if (rec) {
            await this.#kv.put(key, JSON.stringify(rec));
          } else await this.#kv.delete(key);
        } catch (err) {
          failed.push(key);
          this.#log.warn("cannot write proxy record; will retry", { key, err });
        }
      }),
    );
    if (failed.length > 0 && !this.#stopped) {
      for (const k of failed) this.#dirty.add(k);
      setTimeout(() => void this.flush(), 1000).unref();
    }
  }
}
