// Creates and updates each waypoint's Kubernetes objects (wm-infra) by server-side apply with
// Waymark's field manager, and deletes them when their waypoint goes (the Gateway owns them too, so
// Kubernetes' garbage collector removes them even if the watcher was down). Each object carries the
// hash of what was applied; an object whose live hash matches is not written again. Only the leader
// writes; it re-checks every waypoint periodically, so an object deleted by hand comes back.
import { createHash } from "node:crypto";
import { type InfraEntry, type KubeObject, type Logger, WaymarkError } from "@waymark/api";
import { type KV, type Watch, watchBucket } from "@waymark/bus";
import { APPLY_PATCH, KubeApiError, type KubeClient } from "../kube/client.ts";
import { findResource, INFRA, objectPath } from "../kube/resources.ts";
import { canonicalJson } from "../metadata.ts";
import { KeyedQueue } from "./queue.ts";

export const APPLIED_HASH = "waymark.dev/applied-hash";

export interface InfraWriterOptions {
  client: KubeClient;
  infra: KV;
  log: Logger;
  fieldManager: string;
  resyncMs?: number;
}

export function objectHash(o: KubeObject): string {
  return createHash("sha256").update(canonicalJson(o)).digest("hex").slice(0, 16);
}

export class InfraWriter {
  readonly #o: InfraWriterOptions;
  readonly #desired = new Map<string, InfraEntry>();
  /** What was last applied per key: its objects are deleted when the key goes away. */
  readonly #known = new Map<string, InfraEntry>();
  readonly #queue: KeyedQueue;
  #watch: Watch | undefined;
  #resync: NodeJS.Timeout | undefined;
  writes = 0;
  deletes = 0;

  constructor(o: InfraWriterOptions) {
    this.#o = o;
    this.#queue = new KeyedQueue((k) => this.#reconcile(k), o.log.child({ writer: "infra" }), 4);
  }

  async start(): Promise<void> {
    this.#watch = watchBucket(
      this.#o.infra,
      ">",
      {
        onEntry: (e) => {
          if (e.operation === "PUT") {
            try {
              this.#desired.set(e.key, e.json<InfraEntry>());
            } catch (err) {
              this.#o.log.warn("unreadable wm-infra entry", { key: e.key, err });
              return;
            }
          } else {
            const before = this.#desired.get(e.key);
            if (before && !this.#known.has(e.key)) this.#known.set(e.key, before);
            this.#desired.delete(e.key);
          }
          this.#queue.add(e.key);
        },
      },
      this.#o.log,
    );
    await this.#watch.ready;
    this.#resync = setInterval(() => {
      for (const k of this.#desired.keys()) this.#queue.add(k);
    }, this.#o.resyncMs ?? 60_000);
    this.#resync.unref();
  }

  setLeading(on: boolean): void {
    if (on) for (const k of this.#desired.keys()) this.#queue.add(k);
    this.#queue.enable(on);
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async #reconcile(key: string): Promise<void> {
    const want = this.#desired.get(key);
    if (want) {
      for (const o of want.objects) await this.#apply(o);
      this.#known.set(key, want);
      return;
    }
    const gone = this.#known.get(key);
    if (!gone) return;
    for (const o of [...gone.objects].reverse()) await this.#delete(o);
    this.#known.delete(key);
    this.#o.log.info("waypoint objects deleted", { key });
  }

  #path(o: KubeObject): string {
    const slash = o.apiVersion.indexOf("/");
    const group = slash < 0 ? "" : o.apiVersion.slice(0, slash);
    const res = findResource(INFRA, group, o.kind);
    if (!res)
      throw new WaymarkError(
        "infra-unknown-kind",
        `wm-infra holds a ${o.kind} of ${o.apiVersion}, which Waymark does not manage`,
      );
    return objectPath(res, o.metadata.namespace ?? "", o.metadata.name);
  }

  async #apply(o: KubeObject): Promise<void> {
    const path = this.#path(o);
    const hash = objectHash(o);
    try {
      const live = await this.#o.client.request<KubeObject>("GET", path);
      if (live.metadata?.annotations?.[APPLIED_HASH] === hash) return;
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    const body: KubeObject = {
      ...o,
      metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [APPLIED_HASH]: hash } },
    };
    await this.#o.client.request("PATCH", path, {
      body,
      contentType: APPLY_PATCH,
      query: { fieldManager: this.#o.fieldManager, force: true },
    });
    this.writes++;
    this.#o.log.info("applied", { kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name });
  }

  async #delete(o: KubeObject): Promise<void> {
    try {
      await this.#o.client.request("DELETE", this.#path(o), { query: { propagationPolicy: "Background" } });
      this.deletes++;
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    this.#queue.enable(false);
    this.#watch?.stop();
  }
}
