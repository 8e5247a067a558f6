// The Secrets TrafficPolicies reference (apiKeyAuth.secretRef, basicAuth.secretRef), read one by one
// from the API server by name and published like any other object; nothing else of the cluster's
// Secrets is read. RBAC: `get` on secrets, without `list` or `watch` — the watcher cannot enumerate
// Secrets, only read one it was told the name of by a policy of the same namespace. (Kubernetes RBAC
// cannot narrow `get` to names chosen later, so this is the least it allows.) A Secret has no watch,
// so referenced Secrets are read again every refreshMs: a rotated key reaches Envoy within that.
// secretSelector would need `list`: on Kubernetes it finds no Secret, and the policy fails closed.
import { type KubeObject, type Logger, type ObjectRef, objectKey, type Secret } from "@waymark/api";
import type { SourceSink } from "../source.ts";
import { KubeApiError, type KubeClient } from "./client.ts";
import { refreshEvery } from "./refresh.ts";

const isRec = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `<namespace>/<name>` of the Secrets a TrafficPolicy names (its own namespace only). */
export function referencedSecrets(policy: KubeObject): string[] {
  const ns = policy.metadata.namespace;
  const spec = isRec(policy.spec) ? policy.spec : {};
  if (!ns) return [];
  const out = new Set<string>();
  for (const field of ["apiKeyAuth", "basicAuth"]) {
    const f = spec[field];
    const ref = isRec(f) && isRec(f.secretRef) ? f.secretRef : undefined;
    const name = typeof ref?.name === "string" ? ref.name : "";
    const other: string = typeof ref?.namespace === "string" ? ref.namespace : ns;
    // Another namespace's Secret is never read (the translator refuses the reference anyway).
    if (name && other === ns) out.add(`${ns}/${name}`);
  }
  return [...out].sort();
}

export interface ReferencedSecretsOptions {
  client: KubeClient;
  sink: SourceSink;
  log: Logger;
  origin: string;
  refreshMs?: number;
}

const secretRef = (key: string): ObjectRef => {
  const [namespace, name] = key.split("/") as [string, string];
  return { group: "", kind: "Secret", namespace, name };
};

export class ReferencedSecrets {
  readonly #o: ReferencedSecretsOptions;
  /** Policy key → the Secrets it references. */
  readonly #byPolicy = new Map<string, string[]>();
  /** Secret → the resourceVersion published (undefined: not found when last read). */
  readonly #published = new Map<string, string | undefined>();
  #refresh: { stop(): void } | undefined;
  #stopped = false;

  constructor(o: ReferencedSecretsOptions) {
    this.#o = o;
  }

  /** A TrafficPolicy seen (or gone: undefined): reads newly referenced Secrets, drops unreferenced ones. */
  policy(key: string, object: KubeObject | undefined): void {
    const refs = object ? referencedSecrets(object) : [];
    if (refs.length) this.#byPolicy.set(key, refs);
    else this.#byPolicy.delete(key);
    const wanted = this.#wanted();
    for (const s of [...this.#published.keys()])
      if (!wanted.has(s)) {
        this.#published.delete(s);
        this.#o.sink.remove(secretRef(s));
      }
    for (const s of wanted) if (!this.#published.has(s)) void this.#read(s);
  }

  /** Whether a policy key references Secrets (a deleted object arrives without its kind). */
  tracks(key: string): boolean {
    return this.#byPolicy.has(key);
  }

  #wanted(): Set<string> {
    return new Set([...this.#byPolicy.values()].flat());
  }

  start(): void {
    this.#refresh = refreshEvery(this.#o.refreshMs ?? 30_000, () =>
      Promise.all([...this.#wanted()].map((s) => this.#read(s))),
    );
  }

  stop(): void {
    this.#stopped = true;
    this.#refresh?.stop();
  }

  async #read(key: string): Promise<void> {
    const [ns, name] = key.split("/") as [string, string];
    try {
      const o = await this.#o.client.request<Secret>(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}`,
      );
      if (this.#stopped || !this.#wanted().has(key)) return;
      const rv = o.metadata.resourceVersion;
      if (this.#published.has(key) && this.#published.get(key) === rv) return;
      this.#published.set(key, rv);
      const metadata: Record<string, unknown> = { ...o.metadata };
      delete metadata["managedFields"];
      // Only what the translator reads: the values, never the rest of the object's annotations
      // (kubectl's last-applied-configuration holds the values again, in clear).
      delete metadata["annotations"];
      const published: Secret = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: metadata as unknown as Secret["metadata"],
      };
      if (o.type) published.type = o.type;
      if (o.data) published.data = o.data;
      this.#o.sink.upsert(published, this.#o.origin);
      this.#o.log.debug("referenced secret read", { secret: objectKey(secretRef(key)), resourceVersion: rv });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        if (this.#published.get(key) !== undefined || !this.#published.has(key)) {
          this.#published.set(key, undefined);
          this.#o.sink.remove(secretRef(key));
        }
        return;
      }
      // The message names the Secret and the API's answer; never a value (a failed GET has none).
      this.#o.log.warn("cannot read a referenced secret; keeping what was published", {
        secret: key,
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
