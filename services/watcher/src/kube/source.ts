// The Kubernetes source: one informer per kind Waymark reads. The first complete listing of every kind
// becomes one replaceAll (so what was deleted while the watcher was down disappears from NATS); then
// each watch event is an upsert or remove, and a relist of one kind reconciles that kind alone.
// Objects go to NATS without what only the API server needs (managedFields, resourceVersion) and
// without the status Waymark itself writes, so a status write never echoes back as a change.
import { KGATEWAY_GROUP, type KubeObject, type Logger, objectKey, refOf } from "@waymark/api";
import type { Source, SourceSink } from "../source.ts";
import type { KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import { diffList } from "./informer-events.ts";
import { MeshConfigMap } from "./mesh-config.ts";
import { type ResourceInfo, WATCHED } from "./resources.ts";
import { ReferencedSecrets } from "./secrets.ts";

export const KUBE_ORIGIN = "kube";

export interface KubeSourceOptions {
  client: KubeClient;
  log: Logger;
  resources?: readonly ResourceInfo[];
  watchTimeoutSec?: number;
  idleMs?: number;
  secretRefreshMs?: number;
  /**
   * The Istio namespace whose ConfigMap `istio` (the mesh config) is read by name (kube/mesh-config.ts);
   * undefined: not read.
   */
  istioNamespace?: string;
}

/** Told about every object change (raw, with status), e.g. by the status writer. */
export type ObjectListener = (key: string, object: KubeObject | undefined) => void;

export function publishedForm(o: KubeObject, r: ResourceInfo): KubeObject {
  const metadata: Record<string, unknown> = { ...o.metadata };
  delete metadata["resourceVersion"];
  delete metadata["managedFields"];
  const out: KubeObject = { ...o, metadata: metadata as unknown as KubeObject["metadata"] };
  if (r.statusWriter) delete out.status;
  return out;
}

export class KubeSource implements Source {
  readonly description: string;
  readonly needsMetadata = false;
  readonly #o: KubeSourceOptions;
  readonly #informers: Informer[] = [];
  /** Per kind: key → raw object. */
  readonly #byKind = new Map<string, Map<string, KubeObject>>();
  readonly #listeners = new Set<ObjectListener>();
  #sink: SourceSink | undefined;
  #initial = true;
  #secrets: ReferencedSecrets | undefined;
  #meshConfig: MeshConfigMap | undefined;

  constructor(o: KubeSourceOptions) {
    this.#o = o;
    this.description = `kube:${o.client.server}`;
  }

  /** The current raw object (with status and resourceVersion) of a key, if known. */
  get(key: string): KubeObject | undefined {
    for (const m of this.#byKind.values()) {
      const o = m.get(key);
      if (o) return o;
    }
    return undefined;
  }

  onChange(l: ObjectListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  get client(): KubeClient {
    return this.#o.client;
  }

  /** The Secrets policies reference (kube/secrets.ts): read by name once the initial listing is out. */
  #startSecrets(sink: SourceSink): void {
    const secrets = new ReferencedSecrets({
      client: this.#o.client,
      sink,
      log: this.#o.log,
      origin: KUBE_ORIGIN,
      ...(this.#o.secretRefreshMs ? { refreshMs: this.#o.secretRefreshMs } : {}),
    });
    this.#secrets = secrets;
    for (const [key, o] of this.#byKind.get(`${KGATEWAY_GROUP}/TrafficPolicy`) ?? []) secrets.policy(key, o);
    this.onChange((key, o) => {
      if (o ? o.kind === "TrafficPolicy" : secrets.tracks(key)) secrets.policy(key, o);
    });
    secrets.start();
  }

  /** Informers, for tests (lists per kind). */
  get informers(): readonly Informer[] {
    return this.#informers;
  }

  #emit(key: string, o: KubeObject | undefined): void {
    for (const l of this.#listeners) {
      try {
        l(key, o);
      } catch (err) {
        this.#o.log.error("object listener failed", { key, err });
      }
    }
  }

  async start(sink: SourceSink): Promise<void> {
    this.#sink = sink;
    const resources = this.#o.resources ?? WATCHED;
    for (const r of resources) {
      const kindMap = new Map<string, KubeObject>();
      this.#byKind.set(`${r.group}/${r.kind}`, kindMap);
      this.#informers.push(
        new Informer({
          client: this.#o.client,
          resource: r,
          log: this.#o.log,
          ...(this.#o.watchTimeoutSec ? { watchTimeoutSec: this.#o.watchTimeoutSec } : {}),
          ...(this.#o.idleMs ? { idleMs: this.#o.idleMs } : {}),
          handlers: {
            onList: (items) => this.#onList(r, kindMap, items),
            onUpsert: (o) => {
              const key = objectKey(refOf(o));
              kindMap.set(key, o);
              if (!this.#initial) this.#sink?.upsert(publishedForm(o, r), KUBE_ORIGIN);
              this.#emit(key, o);
            },
            onDelete: (o) => {
              const key = objectKey(refOf(o));
              kindMap.delete(key);
              if (!this.#initial) this.#sink?.remove(refOf(o));
              this.#emit(key, undefined);
            },
          },
        }),
      );
    }
    const mesh =
      this.#o.istioNamespace === undefined
        ? undefined
        : new MeshConfigMap({
            client: this.#o.client,
            log: this.#o.log,
            origin: KUBE_ORIGIN,
            namespace: this.#o.istioNamespace,
            ...(this.#o.secretRefreshMs ? { refreshMs: this.#o.secretRefreshMs } : {}),
          });
    this.#meshConfig = mesh;
    const [meshObject] = await Promise.all([mesh?.initial(), ...this.#informers.map((i) => i.start())]);
    // Every kind is listed: publish the whole picture at once.
    const all: Array<{ object: KubeObject; origin: string }> = [];
    for (const r of resources) {
      for (const o of this.#byKind.get(`${r.group}/${r.kind}`)?.values() ?? [])
        all.push({ object: publishedForm(o, r), origin: KUBE_ORIGIN });
    }
    if (meshObject) all.push({ object: meshObject, origin: KUBE_ORIGIN });
    this.#initial = false;
    sink.replaceAll(all);
    mesh?.start(sink);
    this.#o.log.info("initial listing published", { objects: all.length });
    if (resources.some((r) => r.group === KGATEWAY_GROUP && r.kind === "TrafficPolicy"))
      this.#startSecrets(sink);
  }

  /** A (re)list of one kind: what went during the gap is removed, what changed is handed on, the rest not. */
  #onList(r: ResourceInfo, kindMap: Map<string, KubeObject>, items: KubeObject[]): void {
    const { next, removed, changed } = diffList(kindMap, items);
    kindMap.clear();
    for (const [k, o] of next) kindMap.set(k, o);
    if (!this.#initial && this.#sink) {
      for (const o of removed) this.#sink.remove(refOf(o));
      for (const o of changed) this.#sink.upsert(publishedForm(o, r), KUBE_ORIGIN);
    }
    for (const o of removed) this.#emit(objectKey(refOf(o)), undefined);
    for (const o of changed) this.#emit(objectKey(refOf(o)), o);
  }

  async stop(): Promise<void> {
    this.#secrets?.stop();
    this.#meshConfig?.stop();
    await Promise.all(this.#informers.map((i) => i.stop()));
    this.#o.client.close();
  }
}
