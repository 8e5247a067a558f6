// Which xds-server replicas are alive, and clean-up after those that are not. Each replica keeps one
// heartbeat in wm-replicas, rewritten every ttlMs / 3: one small write whatever the number of proxies,
// where rewriting every proxy record to keep it alive cost a write per proxy. A replica whose heartbeat
// is older than its ttlMs is gone (kill -9, lost node, cut off from NATS), and any live replica deletes
// its proxy records. A replica taken for dead that comes back finds its heartbeat changed under it: it
// starts a new incarnation and rewrites its records, which a sweeper never deletes (it deletes only
// records of the dead incarnation, and only at the revision it read). A replica judges another dead
// only once it has itself beaten without a break for that replica's TTL: after an outage that cut
// every replica off from NATS, all heartbeats are old, and none is a sign of death.
import { randomUUID } from "node:crypto";
import { heartbeatExpired, type Logger, type ProxyRecord, type ReplicaHeartbeat } from "@waymark/api";
import { buckets, type KV, listKeys } from "@waymark/bus";

export interface ReplicaLivenessOptions {
  replica: string;
  /** A heartbeat older than this means the replica is gone (0: never expires, one heartbeat at start). */
  ttlMs: number;
  /** Told each new incarnation, before any record is written under it. */
  onIncarnation: (incarnation: string) => void;
  now?: () => Date;
}

export class ReplicaLiveness {
  readonly #replicas: KV;
  readonly #proxies: KV;
  readonly #log: Logger;
  readonly #o: Required<ReplicaLivenessOptions>;
  readonly #key: string;
  #incarnation = "";
  /** Revision of our heartbeat as we last wrote it (0: none yet). */
  #revision = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;
  /** When this replica's last heartbeat was written, and since when it has beaten without a break. */
  #lastBeat = 0;
  #beatingSince = 0;

  constructor(replicas: KV, proxies: KV, log: Logger, o: ReplicaLivenessOptions) {
    this.#replicas = replicas;
    this.#proxies = proxies;
    this.#log = log;
    this.#o = { now: () => new Date(), ...o };
    this.#key = buckets.replicas.key(o.replica);
  }

  get incarnation(): string {
    return this.#incarnation;
  }

  /**
   * Writes the first heartbeat, then deletes what no replica owns: records of replicas without a
   * heartbeat, and this replica's own records from before its restart. (Replicas whose heartbeat
   * expired are left to the ticks, once this one has beaten for their TTL.)
   */
  async start(): Promise<void> {
    this.#newIncarnation();
    this.#revision = await this.#replicas.put(this.#key, this.#value());
    this.#beaten();
    const beats = await this.#heartbeats();
    const prefixes = new Set((await listKeys(this.#proxies)).map((k) => k.split(".")[0]!));
    for (const prefix of prefixes) {
      const h = beats.get(prefix);
      if (prefix === this.#key) await this.#sweep(prefix, undefined, this.#incarnation);
      else if (!h) await this.#sweep(prefix, undefined);
    }
    if (this.#o.ttlMs > 0) {
      this.#timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.#o.ttlMs / 3)));
      this.#timer.unref();
    }
  }

  /** One heartbeat and one look for dead replicas (runs on a timer; exposed for tests). */
  tick(): Promise<void> {
    this.#ticking ??= (async () => {
      try {
        await this.#beat();
        this.#beaten();
        const now = this.#o.now();
        const beating = now.getTime() - this.#beatingSince;
        for (const [key, h] of await this.#heartbeats()) {
          if (key === this.#key || !heartbeatExpired(h.value, now) || beating < h.value.ttlMs) continue;
          await this.#sweep(key, h);
        }
      } catch (err) {
        if (!this.#stopped) this.#log.warn("replica heartbeat failed; retrying", { err });
      }
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /** Stops beating and removes the heartbeat (call after this replica's records are deleted). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#ticking;
    await this.#replicas.delete(this.#key, { previousSeq: this.#revision }).catch((err: unknown) => {
      this.#log.warn("cannot remove this replica's heartbeat", { err });
    });
  }

  /** Records a heartbeat written now; a gap longer than the TTL since the last one is a break. */
  #beaten(): void {
    const now = this.#o.now().getTime();
    if (this.#lastBeat === 0 || (this.#o.ttlMs > 0 && now - this.#lastBeat > this.#o.ttlMs)) {
      this.#beatingSince = now;
    }
    this.#lastBeat = now;
  }

  #newIncarnation(): void {
    this.#incarnation = randomUUID();
    this.#o.onIncarnation(this.#incarnation);
  }

  #value(): string {
    const h: ReplicaHeartbeat = {
      replica: this.#o.replica,
      incarnation: this.#incarnation,
      beatAt: this.#o.now().toISOString(),
      ttlMs: this.#o.ttlMs,
    };
    return JSON.stringify(h);
  }

  async #beat(): Promise<void> {
    try {
      this.#revision = await this.#replicas.update(this.#key, this.#value(), this.#revision);
      return;
    } catch (err) {
      const e = await this.#replicas.get(this.#key);
      if (e && e.revision === this.#revision) throw err; // not a conflict: NATS itself failed
    }
    this.#log.warn("this replica was taken for dead and its proxy records removed; rewriting them", {
      replica: this.#o.replica,
    });
    this.#newIncarnation();
    this.#revision = await this.#replicas.put(this.#key, this.#value());
  }

  async #heartbeats(): Promise<Map<string, { revision: number; value: ReplicaHeartbeat }>> {
    const out = new Map<string, { revision: number; value: ReplicaHeartbeat }>();
    for (const key of await listKeys(this.#replicas)) {
      const e = await this.#replicas.get(key);
      if (e?.operation === "PUT") out.set(key, { revision: e.revision, value: e.json<ReplicaHeartbeat>() });
    }
    return out;
  }

  /**
   * Deletes the records under one key prefix. With a dead heartbeat, first deletes the heartbeat (at
   * the revision read, so a replica that beat meanwhile stays) and then only that incarnation's
   * records; `keep` spares this replica's current incarnation.
   */
  async #sweep(
    prefix: string,
    h: { revision: number; value: ReplicaHeartbeat } | undefined,
    keep?: string,
  ): Promise<void> {
    if (h) {
      try {
        await this.#replicas.delete(prefix, { previousSeq: h.revision });
      } catch {
        return; // it beat again, or another replica is sweeping it
      }
    }
    const dead = h?.value.incarnation;
    let removed = 0;
    // wm-proxies keys are `<replicaKey>.<node>`.
    for (const key of await listKeys(this.#proxies, `${prefix}.>`)) {
      const e = await this.#proxies.get(key);
      if (e?.operation !== "PUT") continue;
      const incarnation = e.json<Partial<ProxyRecord>>().incarnation;
      if (keep !== undefined && incarnation === keep) continue;
      if (dead !== undefined && incarnation !== undefined && incarnation !== dead) continue;
      try {
        await this.#proxies.delete(key, { previousSeq: e.revision });
        removed++;
      } catch {
        // rewritten since it was read: its owner is alive
      }
    }
    if (removed > 0) {
      this.#log.info("removed the proxy records of a replica that is gone", {
        replica: h?.value.replica ?? prefix,
        records: removed,
      });
    }
  }
}
