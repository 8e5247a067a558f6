// Leader election over a coordination.k8s.io/v1 Lease: only the holder writes status and waypoint
// objects. A candidate takes the Lease when it is free or its holder has not renewed it within its
// duration (measured on our clock, from when we last saw it change, as client-go does); the holder
// renews it every retry period and steps down when it cannot renew before the renew deadline.
// Updates carry the resourceVersion read, so two candidates never both win.
import type { Logger } from "@waymark/api";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { collectionPath, LEASES, objectPath } from "../kube/resources.ts";

export interface LeaseOptions {
  client: KubeClient;
  log: Logger;
  namespace: string;
  name: string;
  identity: string;
  durationMs: number;
  renewDeadlineMs: number;
  retryMs: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date) => d.toISOString().replace("Z", "000Z");

export class LeaderElector {
  readonly #o: LeaseOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #lastRenew = 0;
  /** The lease as last seen, and when (our clock) it last changed. */
  #seen: { rv: string; holder: string; at: number } | undefined;
  #loop: Promise<void> | undefined;

  constructor(o: LeaseOptions) {
    this.#o = o;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#loop = this.#attempt().finally(() => {
      if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#o.retryMs);
    });
  }

  async #attempt(): Promise<void> {
    const { client, log, namespace, name, identity } = this.#o;
    const now = Date.now();
    try {
      let lease: Lease | undefined;
      try {
        lease = await client.request<Lease>("GET", objectPath(LEASES, namespace, name), { timeoutMs: 5000 });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
      const spec = {
        holderIdentity: identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.durationMs / 1000)),
        renewTime: microTime(new Date(now)),
      };
      if (!lease) {
        await client.request("POST", collectionPath(LEASES, namespace), {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: { ...spec, acquireTime: microTime(new Date(now)), leaseTransitions: 0 },
          },
          timeoutMs: 5000,
        });
        this.#renewed(now);
        return;
      }
      const rv = lease.metadata.resourceVersion ?? "";
      const holder = lease.spec?.holderIdentity ?? "";
      if (!this.#seen || this.#seen.rv !== rv) this.#seen = { rv, holder, at: now };
      const durationMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
      const free = holder === "" || holder === identity || now - this.#seen.at > durationMs;
      if (!free) {
        this.#lose("another watcher holds the lease", holder);
        return;
      }
      const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
      await client.request("PUT", objectPath(LEASES, namespace, name), {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace, resourceVersion: rv },
          spec: {
            ...spec,
            acquireTime: holder === identity ? (lease.spec?.acquireTime ?? spec.renewTime) : spec.renewTime,
            leaseTransitions: transitions,
          },
        },
        timeoutMs: 5000,
      });
      this.#renewed(now);
    } catch (err) {
      const conflict = err instanceof KubeApiError && (err.status === 409 || err.status === 422);
      if (!conflict) log.warn("lease attempt failed", { err });
      if (this.#leading && Date.now() - this.#lastRenew > this.#o.renewDeadlineMs)
        this.#lose("could not renew the lease in time", "");
    }
  }

  #renewed(now: number): void {
    this.#lastRenew = now;
    if (!this.#leading) {
      this.#leading = true;
      this.#o.log.info("became the leader", {
        lease: `${this.#o.namespace}/${this.#o.name}`,
        identity: this.#o.identity,
      });
      this.#o.onStartedLeading();
    }
  }

  #lose(why: string, holder: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log.warn("stopped leading", { why, holder });
    this.#o.onStoppedLeading();
  }

  /** Stops; a leader releases the lease so another watcher can take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#loop;
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.onStoppedLeading();
    const { client, namespace, name } = this.#o;
    try {
      const lease = await client.request<Lease>("GET", objectPath(LEASES, namespace, name), {
        timeoutMs: 3000,
      });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      await client.request("PUT", objectPath(LEASES, namespace, name), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date()),
          },
        },
        timeoutMs: 3000,
      });
    } catch (err) {
      this.#o.log.warn("could not release the lease", { err });
    }
  }
}
