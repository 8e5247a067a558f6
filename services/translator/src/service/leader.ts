// Leader election through NATS, so that the translator needs no Kubernetes credentials. The lease is
// one key in a KV bucket whose entries expire TTL after their last write (the bucket's max age, kept
// by the NATS server, so the candidates' clocks do not matter):
// - a candidate takes the lease with create(), which succeeds only when the key is absent, deleted or
//   expired;
// - the leader renews it every TTL/3 with update() at the revision it last wrote (compare-and-swap),
//   so a lease someone else took is never overwritten;
// - a leader that cannot renew for a whole TTL, or finds another holder, steps down at once;
// - a leader that stops deletes the lease (at its revision), so a standby takes over on its next try.
import { hostname } from "node:os";
import { type KV, Kvm } from "@nats-io/kv";
import type { Logger } from "@waymark/api";
import { matchReplicas, type NatsConnection, natsReplicasFromEnv } from "@waymark/bus";

export const LEASE_BUCKET = "wm-leases";

export interface LeaderElectionOptions {
  kv: KV;
  /** The lease's key, e.g. `translator`. */
  key: string;
  /** This candidate's identity (the pod name in Kubernetes). */
  id: string;
  /** The bucket's max age: how long a lease lives without renewal. */
  ttlMs: number;
  /** How often the leader renews and a standby tries to take over (default ttlMs / 3). */
  renewMs?: number;
  log: Logger;
  /** Called when this candidate becomes the leader; its errors are logged and the lease released. */
  onElected(): Promise<void> | void;
  /** Called when this candidate stops being the leader (lost lease, or stop()). */
  onDeposed(reason: string): Promise<void> | void;
  now?: () => number;
}

export interface LeaderElection {
  readonly isLeader: boolean;
  /** The holder last seen (this id while leading). */
  readonly holder: string | undefined;
  /** Stops trying; a leader steps down (onDeposed) and releases the lease. */
  stop(): Promise<void>;
}

/** Opens (creating if missing) the lease bucket, with WAYMARK_NATS_REPLICAS; an existing bucket keeps its own TTL. */
export async function openLeaseBucket(nc: NatsConnection, ttlMs: number, log: Logger): Promise<KV> {
  const kvm = new Kvm(nc);
  const replicas = natsReplicasFromEnv();
  for (let attempt = 1; ; attempt++) {
    try {
      const kv = await kvm.create(LEASE_BUCKET, { history: 1, storage: "memory", ttl: ttlMs, replicas });
      await matchReplicas(nc, kv, LEASE_BUCKET, replicas, true, log);
      return kv;
    } catch (err) {
      // A bucket made with another TTL: use it as it is (its TTL is what the server enforces).
      if (/different configuration|already in use/i.test(String(err))) {
        log.warn("lease bucket exists with another configuration; using it", { bucket: LEASE_BUCKET, err });
        return await kvm.open(LEASE_BUCKET);
      }
      if (attempt >= 120 || nc.isClosed()) throw err;
      log.warn("cannot open the lease bucket yet; retrying", { bucket: LEASE_BUCKET, attempt, err });
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
    }
  }
}

export function defaultCandidateId(): string {
  return `${hostname()}-${process.pid}`;
}

const enc = new TextEncoder();

export function startLeaderElection(o: LeaderElectionOptions): LeaderElection {
  const now = o.now ?? Date.now;
  const renewMs = o.renewMs ?? Math.max(100, Math.floor(o.ttlMs / 3));
  const log = o.log;
  let leader = false;
  let holder: string | undefined;
  let revision = 0;
  let renewedAt = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();

  const stepDown = async (reason: string) => {
    if (!leader) return;
    leader = false;
    (reason === "stopping" ? log.info : log.warn)("stepping down", { key: o.key, id: o.id, reason });
    try {
      await o.onDeposed(reason);
    } catch (err) {
      log.error("stepping down failed", { err });
    }
  };

  const tick = async () => {
    if (stopped) return;
    if (leader) {
      try {
        revision = await o.kv.update(o.key, enc.encode(o.id), revision);
        renewedAt = now();
      } catch (err) {
        const current = await o.kv.get(o.key).catch(() => undefined);
        if (current?.operation === "PUT" && current.string() !== o.id) {
          holder = current.string();
          await stepDown(`the lease is held by ${holder}`);
        } else if (current && current.operation !== "PUT") {
          await stepDown("the lease was released or expired");
        } else if (now() - renewedAt >= o.ttlMs) {
          await stepDown("could not renew the lease for a whole TTL");
        } else {
          log.warn("cannot renew the lease; retrying", { key: o.key, err });
        }
      }
      // The lease may have expired while this renewal was in flight (a long pause).
      if (leader && now() - renewedAt >= o.ttlMs) await stepDown("renewal came too late");
      return;
    }
    try {
      revision = await o.kv.create(o.key, enc.encode(o.id));
    } catch {
      const current = await o.kv.get(o.key).catch(() => undefined);
      const next = current?.operation === "PUT" ? current.string() : undefined;
      if (next !== holder) log.info("standing by", { key: o.key, id: o.id, leader: next });
      holder = next;
      return;
    }
    leader = true;
    holder = o.id;
    renewedAt = now();
    log.info("elected leader", { key: o.key, id: o.id, ttlMs: o.ttlMs });
    try {
      await o.onElected();
    } catch (err) {
      log.error("starting as leader failed; releasing the lease", { err });
      await release();
      await stepDown("starting as leader failed");
    }
  };

  const release = async () => {
    try {
      await o.kv.delete(o.key, { previousSeq: revision });
    } catch (err) {
      log.debug("lease not released (already taken or expired)", { err });
    }
  };

  const loop = () => {
    if (stopped) return;
    running = tick()
      .catch((err: unknown) => log.error("leader election step failed", { err }))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, renewMs);
      });
  };
  loop();

  return {
    get isLeader() {
      return leader;
    },
    get holder() {
      return holder;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (leader) {
        await stepDown("stopping");
        await release();
      }
    },
  };
}
