// Istio's mesh config ConfigMap on Kubernetes (../mesh-config.ts): read by name with GET, as the
// referenced Secrets are (kube/secrets.ts), and read again every refreshMs
// (WAYMARK_KUBE_SECRET_REFRESH_MS); published when it changes, removed when it is gone (404). RBAC:
// `get` on configmaps, which the watcher has already for the waypoint objects; no list or watch of
// ConfigMaps. The first read happens before the initial listing is published, so the first
// translation already has it.
import type { KubeObject, Logger, ObjectRef } from "@waymark/api";
import { MESH_CONFIGMAP_NAME, meshConfigMapForm } from "../mesh-config.ts";
import type { SourceSink } from "../source.ts";
import { KubeApiError, type KubeClient } from "./client.ts";
import { refreshEvery } from "./refresh.ts";

export interface MeshConfigMapOptions {
  client: KubeClient;
  log: Logger;
  origin: string;
  /** The Istio namespace (WAYMARK_ROOT_NAMESPACE). */
  namespace: string;
  refreshMs?: number;
}

export class MeshConfigMap {
  readonly #o: MeshConfigMapOptions;
  readonly #ref: ObjectRef;
  /** The resourceVersion published; undefined: nothing published. */
  #published: string | undefined;
  #sink: SourceSink | undefined;
  #refresh: { stop(): void } | undefined;
  #stopped = false;

  constructor(o: MeshConfigMapOptions) {
    this.#o = o;
    this.#ref = { group: "", kind: "ConfigMap", namespace: o.namespace, name: MESH_CONFIGMAP_NAME };
  }

  get #path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/configmaps/${MESH_CONFIGMAP_NAME}`;
  }

  /**
   * The first read, for the initial listing: the published form, or undefined when there is none
   * (or it cannot be read now: the refresh tries again).
   */
  async initial(): Promise<KubeObject | undefined> {
    const r = await this.#get();
    if (r === "error" || r === undefined) return undefined;
    this.#published = r.metadata.resourceVersion ?? "";
    return meshConfigMapForm(r);
  }

  /** Reads again every refreshMs, into `sink`. */
  start(sink: SourceSink): void {
    this.#sink = sink;
    this.#refresh = refreshEvery(this.#o.refreshMs ?? 30_000, () => this.refresh());
  }

  stop(): void {
    this.#stopped = true;
    this.#refresh?.stop();
  }

  /** One read: publishes a new version, removes a deleted ConfigMap, keeps what was there on errors. */
  async refresh(): Promise<void> {
    const r = await this.#get();
    if (this.#stopped || !this.#sink || r === "error") return;
    if (r === undefined) {
      if (this.#published === undefined) return;
      this.#published = undefined;
      this.#sink.remove(this.#ref);
      this.#o.log.info("mesh config ConfigMap gone", {
        configMap: `${this.#o.namespace}/${MESH_CONFIGMAP_NAME}`,
      });
      return;
    }
    const rv = r.metadata.resourceVersion ?? "";
    if (this.#published === rv) return;
    this.#published = rv;
    this.#sink.upsert(meshConfigMapForm(r), this.#o.origin);
    this.#o.log.info("mesh config ConfigMap read", {
      configMap: `${this.#o.namespace}/${MESH_CONFIGMAP_NAME}`,
      resourceVersion: rv,
    });
  }

  async #get(): Promise<KubeObject | undefined | "error"> {
    try {
      return await this.#o.client.request<KubeObject>("GET", this.#path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      this.#o.log.warn("cannot read the mesh config ConfigMap; keeping what was published", {
        configMap: `${this.#o.namespace}/${MESH_CONFIGMAP_NAME}`,
        err: err instanceof Error ? err.message : String(err),
      });
      return "error";
    }
  }
}
