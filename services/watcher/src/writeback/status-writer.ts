// Writes the status the translator computed (wm-status) onto the objects in the cluster, by
// server-side apply on the status subresource with Waymark's field manager. A write happens when the
// computed status differs from the object's live status, so a restart or a repeated entry writes
// nothing; a status the translator no longer computes is withdrawn (an apply without it removes the
// fields Waymark owned). Only the leader writes; every replica follows the buckets.
import { type KubeObject, type Logger, refOf, type StatusEntry } from "@waymark/api";
import { type KV, type Watch, watchBucket } from "@waymark/bus";
import { APPLY_PATCH, KubeApiError, type KubeClient } from "../kube/client.ts";
import { findResource, refPath, WATCHED } from "../kube/resources.ts";
import type { KubeSource } from "../kube/source.ts";
import { canonicalJson } from "../metadata.ts";
import { KeyedQueue } from "./queue.ts";

export interface StatusWriterOptions {
  client: KubeClient;
  source: KubeSource;
  status: KV;
  log: Logger;
  fieldManager: string;
}

function managesStatus(o: KubeObject, manager: string): boolean {
  const mf = (o.metadata as { managedFields?: Array<{ manager?: string; subresource?: string }> })
    .managedFields;
  return Array.isArray(mf) && mf.some((f) => f.manager === manager && f.subresource === "status");
}

export class StatusWriter {
  readonly #o: StatusWriterOptions;
  readonly #desired = new Map<string, StatusEntry>();
  readonly #queue: KeyedQueue;
  /** key → resourceVersion of the live object our last apply produced/left, with the content applied. */
  readonly #applied = new Map<string, { rv: string; canon: string }>();
  #watch: Watch | undefined;
  #unsubscribe: (() => void) | undefined;
  writes = 0;

  constructor(o: StatusWriterOptions) {
    this.#o = o;
    this.#queue = new KeyedQueue((k) => this.#reconcile(k), o.log.child({ writer: "status" }));
  }

  /** Follows wm-status and the live objects; resolves once wm-status is loaded. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.source.onChange((key) => this.#queue.add(key));
    this.#watch = watchBucket(
      this.#o.status,
      ">",
      {
        onEntry: (e) => {
          if (e.operation === "PUT") {
            try {
              const v = e.json<StatusEntry>();
              this.#desired.set(e.key, v);
            } catch (err) {
              this.#o.log.warn("unreadable wm-status entry", { key: e.key, err });
              return;
            }
          } else {
            this.#desired.delete(e.key);
          }
          this.#queue.add(e.key);
        },
      },
      this.#o.log,
    );
    await this.#watch.ready;
  }

  /** Leader only: write, or stop writing. Becoming leader re-checks every key. */
  setLeading(on: boolean): void {
    if (on) {
      this.#applied.clear();
      for (const k of this.#desired.keys()) this.#queue.add(k);
    }
    this.#queue.enable(on);
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async #reconcile(key: string): Promise<void> {
    const live = this.#o.source.get(key);
    if (!live) return; // gone, or not yet seen: its own event brings us back
    const ref = refOf(live);
    const res = findResource(WATCHED, ref.group, ref.kind);
    if (!res?.statusWriter) return;
    const want = this.#desired.get(key);
    const liveRv = live.metadata.resourceVersion ?? "";
    let body: Record<string, unknown>;
    if (want) {
      if (want.ref.name !== ref.name || want.ref.kind !== ref.kind) return;
      const canon = canonicalJson(want.status);
      if (canonicalJson(live.status ?? {}) === canon) return;
      const last = this.#applied.get(key);
      if (last && last.rv === liveRv && last.canon === canon) return; // applied; the server normalised it
      body = { status: want.status };
    } else {
      if (!managesStatus(live, this.#o.fieldManager)) return;
      body = {};
    }
    const metadata: Record<string, unknown> = { name: ref.name };
    if (res.namespaced) metadata["namespace"] = ref.namespace;
    try {
      const out = await this.#o.client.request<KubeObject>("PATCH", `${refPath(res, ref)}/status`, {
        body: { apiVersion: live.apiVersion, kind: live.kind, metadata, ...body },
        contentType: APPLY_PATCH,
        query: { fieldManager: this.#o.fieldManager, force: true },
      });
      this.writes++;
      this.#applied.set(key, {
        rv: out.metadata?.resourceVersion ?? "",
        canon: want ? canonicalJson(want.status) : "",
      });
      this.#o.log.debug("status written", { key, generation: want?.generation });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#queue.enable(false);
    this.#unsubscribe?.();
    this.#watch?.stop();
  }
}
