// One resource kind kept in sync with the API server: a paginated list, then a watch from the list's
// resourceVersion with bookmarks. It never gives up:
// - a watch the server ends (timeoutSeconds) resumes from the last resourceVersion seen;
// - 410 Gone (the version was compacted away, or the watch cache moved on) relists; the owner
//   reconciles the full list, so objects deleted meanwhile disappear;
// - a watch silent for longer than idleMs (no event, no bookmark) is aborted and resumed;
// - any other failure (API server down, connection reset) is retried with backoff;
// - a kind the server does not serve (its CRD is not installed: 404) counts as empty and is listed
//   again periodically.
import type { KubeObject, Logger } from "@waymark/api";
import { KubeApiError, type KubeClient, type WatchEvent } from "./client.ts";
import { applyWatchEvent, listFailureAction, stampObject, watchFailureAction } from "./informer-events.ts";
import { collectionPath, type ResourceInfo } from "./resources.ts";

export interface InformerHandlers {
  /** A complete list (the first, and every relist): the kind holds exactly these objects now. */
  onList(items: KubeObject[]): void;
  onUpsert(o: KubeObject): void;
  onDelete(o: KubeObject): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceInfo;
  log: Logger;
  handlers: InformerHandlers;
  /** Server-side watch timeout, randomised ±20 % (default 300 s). */
  watchTimeoutSec?: number;
  /** A watch with no traffic for this long is restarted (default: watch timeout + 30 s). */
  idleMs?: number;
  pageSize?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      r();
    });
  });

export class Informer {
  readonly #o: Required<Omit<InformerOptions, "idleMs">> & { idleMs: number | undefined };
  readonly #stop = new AbortController();
  #rv = "";
  #listed = false;
  #firstList: { promise: Promise<void>; resolve: () => void };
  #running: Promise<void> | undefined;
  /** Lists done (1 + relists), for logs and tests. */
  lists = 0;
  /** Watches started, and watches restarted because they were silent too long, for logs and tests. */
  watches = 0;
  idleRestarts = 0;

  constructor(o: InformerOptions) {
    this.#o = { watchTimeoutSec: 300, pageSize: 500, ...o, idleMs: o.idleMs };
    let resolve!: () => void;
    this.#firstList = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  get kind(): string {
    return this.#o.resource.kind;
  }

  /** Starts; resolves after the first complete list. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#firstList.promise;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#firstList.resolve();
    await this.#running;
  }

  async #list(): Promise<{ items: KubeObject[]; rv: string }> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.#o.client.request<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: Record<string, unknown>[];
      }>("GET", collectionPath(this.#o.resource), { query: { limit: this.#o.pageSize, continue: cont } });
      for (const i of page.items ?? []) items.push(stampObject(i, this.#o.resource));
      rv = page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, rv };
  }

  async #run(): Promise<void> {
    const { log, resource } = this.#o;
    const signal = this.#stop.signal;
    let needList = true;
    let backoff = 250;
    const failed = async (what: string, err: unknown) => {
      log.warn(`${what} failed; retrying`, { kind: resource.kind, err, backoffMs: backoff });
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 5000);
    };
    while (!signal.aborted) {
      if (needList) {
        try {
          const { items, rv } = await this.#list();
          this.#rv = rv;
          needList = false;
          this.lists++;
          this.#o.handlers.onList(items);
          if (this.lists > 1) log.info("relisted", { kind: resource.kind, objects: items.length });
          this.#markListed();
          backoff = 250;
        } catch (err) {
          if (signal.aborted) break;
          if (listFailureAction(err) === "empty") {
            // The kind is not served (CRD missing): empty until it appears.
            if (!this.#listed)
              log.warn("kind not served by the API server; treating as empty", { kind: resource.kind });
            this.#o.handlers.onList([]);
            this.#markListed();
            await sleep(5000, signal);
            continue;
          }
          await failed("list", err);
          continue;
        }
      }
      try {
        await this.#watchOnce();
        backoff = 250;
      } catch (err) {
        if (signal.aborted) break;
        const action = watchFailureAction(err);
        if (action === "relist") {
          log.info("watch expired (410); relisting", { kind: resource.kind, resourceVersion: this.#rv });
          needList = true;
          continue;
        }
        if (action === "restart") {
          this.idleRestarts++;
          log.warn("watch silent too long; restarting it", { kind: resource.kind });
          continue;
        }
        if (action === "retry-relist") needList = true;
        await failed("watch", err);
      }
    }
  }

  #markListed(): void {
    if (this.#listed) return;
    this.#listed = true;
    this.#firstList.resolve();
  }

  /** One watch from #rv until the server ends it; throws on failure (410 as KubeApiError 410). */
  async #watchOnce(): Promise<void> {
    const { client, resource, handlers } = this.#o;
    const timeout = Math.round(this.#o.watchTimeoutSec * (0.8 + Math.random() * 0.4));
    const idleMs = this.#o.idleMs ?? (timeout + 30) * 1000;
    const ctl = new AbortController();
    const onStop = () => ctl.abort();
    this.#stop.signal.addEventListener("abort", onStop);
    let idle = false;
    let timer = setTimeout(() => {
      idle = true;
      ctl.abort();
    }, idleMs);
    const poke = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        ctl.abort();
      }, idleMs);
    };
    this.watches++;
    try {
      await client.watch(
        collectionPath(resource),
        { resourceVersion: this.#rv, allowWatchBookmarks: true, timeoutSeconds: timeout },
        (e: WatchEvent) => {
          poke();
          const step = applyWatchEvent(this.#rv, e, resource);
          if (step.change?.type === "delete") handlers.onDelete(step.change.object);
          else if (step.change) handlers.onUpsert(step.change.object);
          this.#rv = step.rv;
        },
        ctl.signal,
      );
    } catch (err) {
      if (idle && !this.#stop.signal.aborted)
        throw new KubeApiError(0, "Idle", `watch ${resource.kind}: idle`);
      throw err;
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }
}
