// Writes the status the translator computed (wm-status) onto the objects in the cluster, by
// server-side apply on the status subresource with Waymark's field manager. A write happens when the
// computed status differs from the object's live status, so a restart or a repeated entry writes
// nothing; a status the translator no longer computes is withdrawn (an apply without it removes the
// fields Waymark owned). A route's parents, a policy's ancestors and an Istio policy's conditions are
// shared with other controllers: their entries are kept (status-merge.ts), and such a write carries the resourceVersion it was
// computed from, so an entry another controller writes meanwhile is not lost (409: computed again).
// Only the leader writes; every replica follows the buckets.
import { type KubeObject, type Logger, refOf, type StatusEntry } from "@waymark/api";
import { type KV, type Watch, watchBucket } from "@waymark/bus";
import { APPLY_PATCH, KubeApiError, type KubeClient } from "../kube/client.ts";
import { findResource, refPath, WATCHED } from "../kube/resources.ts";
import type { KubeSource } from "../kube/source.ts";
import { ownedStatus } from "./owned-fields.ts";
import { KeyedQueue } from "./queue.ts";
import { mergedStatus, type OwnerNames, statusCanon, withdrawnStatus } from "./status-merge.ts";

export interface StatusWriterOptions {
  client: KubeClient;
  source: KubeSource;
  status: KV;
  log: Logger;
  fieldManager: string;
  /** Our GatewayClasses' controllerName(s): the entries of shared status lists that are ours. */
  controllerNames?: readonly string[];
}

function managesStatus(o: KubeObject, manager: string): boolean {
  const mf = (o.metadata as { managedFields?: Array<{ manager?: string; subresource?: string }> })
    .managedFields;
  return Array.isArray(mf) && mf.some((f) => f.manager === manager && f.subresource === "status");
}

/** The live status as far as `manager` owns it, the shared list (if any) taken whole from the live. */
function comparableStatus(live: KubeObject, manager: string, list: string | undefined): unknown {
  const owned = ownedStatus(live, manager);
  if (owned === undefined) return live.status;
  const shared = list ? (live.status as Record<string, unknown> | undefined)?.[list] : undefined;
  return shared === undefined ? owned : { ...(owned as Record<string, unknown>), [list as string]: shared };
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
    const list = res.sharedStatusList;
    const names: OwnerNames = res.sharedStatusOurs
      ? { key: res.sharedStatusKey ?? "controllerName", values: res.sharedStatusOurs }
      : (this.#o.controllerNames ?? []);
    let body: Record<string, unknown>;
    let canon = "";
    if (want) {
      if (want.ref.name !== ref.name || want.ref.kind !== ref.kind) return;
      const status = mergedStatus(live.status, want.status, list, names);
      canon = statusCanon(status, list);
      if (statusCanon(live.status, list) === canon) return;
      // What another controller wrote beside ours (a condition of its own on a Gateway, say) is not
      // ours to compare: only the fields our manager owns, with the shared list whole (it is merged).
      if (statusCanon(comparableStatus(live, this.#o.fieldManager, list), list) === canon) return;
      const last = this.#applied.get(key);
      if (last && last.rv === liveRv && last.canon === canon) return; // applied; the server normalised it
      body = { status };
    } else if (list) {
      const status = withdrawnStatus(live.status, list, names);
      if (!status) return;
      body = { status };
    } else {
      if (!managesStatus(live, this.#o.fieldManager)) return;
      body = {};
    }
    const metadata: Record<string, unknown> = { name: ref.name };
    if (res.namespaced) metadata["namespace"] = ref.namespace;
    // Other controllers' entries are in the body: only over the version they were read from.
    if (list && liveRv) metadata["resourceVersion"] = liveRv;
    try {
      const out = await this.#o.client.request<KubeObject>("PATCH", `${refPath(res, ref)}/status`, {
        body: { apiVersion: live.apiVersion, kind: live.kind, metadata, ...body },
        contentType: APPLY_PATCH,
        query: { fieldManager: this.#o.fieldManager, force: true },
      });
      this.writes++;
      this.#applied.set(key, { rv: out.metadata?.resourceVersion ?? "", canon });
      this.#o.log.debug("status written", { key, generation: want?.generation });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile
      // Changed meanwhile: its watch event queues the key again, and the retry recomputes.
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#queue.enable(false);
    this.#unsubscribe?.();
    this.#watch?.stop();
  }
}
