// The translator's in-memory mirror of wm-objects: objectKey → envelope. It also remembers the newest
// observation time among the changes since the last build, for propagation latency.
import {
  type KubeObject,
  type ObjectEnvelope,
  objectKey,
  refOf,
  type TraceContext,
  WaymarkError,
} from "@waymark/api";
import type { KvEntry } from "@waymark/bus";
import type { ObjectJournal } from "../translate/types.ts";

export type IndexChange = "put" | "delete" | "none";

/** Why an entry could not be indexed. */
export class MalformedEntryError extends WaymarkError {
  readonly key: string;
  constructor(key: string, message: string) {
    super("malformed-entry", `wm-objects ${key}: ${message}`);
    this.name = "MalformedEntryError";
    this.key = key;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates the shape of an envelope read from wm-objects under `key`. */
export function parseEnvelope(key: string, bytes: Uint8Array): ObjectEnvelope {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new MalformedEntryError(key, "value is not JSON");
  }
  if (!isRecord(v)) throw new MalformedEntryError(key, "value is not a JSON object");
  const o = v["object"];
  if (!isRecord(o)) throw new MalformedEntryError(key, "envelope has no object");
  const meta = o["metadata"];
  if (typeof o["apiVersion"] !== "string" || typeof o["kind"] !== "string" || !isRecord(meta)) {
    throw new MalformedEntryError(key, "object lacks apiVersion, kind or metadata");
  }
  if (typeof meta["name"] !== "string" || meta["name"] === "")
    throw new MalformedEntryError(key, "object has no name");
  if (meta["namespace"] !== undefined && typeof meta["namespace"] !== "string") {
    throw new MalformedEntryError(key, "metadata.namespace is not a string");
  }
  if (typeof v["observedAt"] !== "string" || Number.isNaN(Date.parse(v["observedAt"]))) {
    throw new MalformedEntryError(key, "envelope has no valid observedAt");
  }
  if (typeof v["source"] !== "string") throw new MalformedEntryError(key, "envelope has no source");
  const env = v as unknown as ObjectEnvelope;
  const expected = objectKey(refOf(env.object));
  if (expected !== key) throw new MalformedEntryError(key, `object belongs under key ${expected}`);
  return env;
}

/** At most this many changes' trace contexts are kept for one build's links (the newest win). */
export const MAX_TRACED_CHANGES = 128;

/**
 * The journal keeps at least this many of the latest changed keys. A build further behind than that
 * compares every object instead (the memo gives up on more than a few dozen changes anyway).
 */
export const JOURNAL_KEEP = 4096;

export class ObjectIndex {
  readonly #envelopes = new Map<string, ObjectEnvelope>();
  /**
   * The objects in key order, kept between builds: a changed object is replaced in place (a Map keeps
   * a key's position), and only a key coming or going makes the next build sort again.
   */
  #sorted: Map<string, KubeObject> | undefined;
  /** `#sorted` was handed out by objects(): it is copied before it next changes (copy on write). */
  #sortedShared = false;
  /** The number of changes applied, and the keys of the latest ones: `#journal[i]` made generation `#journalStart + i + 1`. */
  #generation = 0;
  #journal: string[] = [];
  #journalStart = 0;
  #newestChange: number | undefined;
  /** Trace contexts of the changes since the last build, oldest first. */
  #traces: TraceContext[] = [];
  #revision = 0;

  /** The newest wm-objects revision applied. */
  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#envelopes.size;
  }

  /**
   * Applies one wm-objects entry. A malformed value removes whatever the key held before (the bucket
   * no longer holds that object) and throws MalformedEntryError for the caller to log.
   */
  apply(e: Pick<KvEntry, "key" | "operation" | "value" | "created" | "revision">): IndexChange {
    this.#revision = Math.max(this.#revision, e.revision);
    if (e.operation !== "PUT") {
      if (!this.#envelopes.delete(e.key)) return "none";
      this.#sorted = undefined;
      this.#journalPush(e.key);
      this.#noteChange(e.created.getTime());
      return "delete";
    }
    let env: ObjectEnvelope;
    try {
      env = parseEnvelope(e.key, e.value);
    } catch (err) {
      if (this.#envelopes.delete(e.key)) {
        this.#sorted = undefined;
        this.#journalPush(e.key);
        this.#noteChange(e.created.getTime());
      }
      throw err;
    }
    if (this.#sorted?.has(e.key)) {
      if (this.#sortedShared) {
        this.#sorted = new Map(this.#sorted);
        this.#sortedShared = false;
      }
      this.#sorted.set(e.key, env.object);
    } else this.#sorted = undefined;
    this.#envelopes.set(e.key, env);
    this.#journalPush(e.key);
    this.#noteChange(Date.parse(env.observedAt));
    if (env.trace && typeof env.trace.traceparent === "string") {
      this.#traces.push(env.trace);
      if (this.#traces.length > MAX_TRACED_CHANGES) this.#traces.shift();
    }
    return "put";
  }

  #journalPush(key: string): void {
    this.#generation++;
    this.#journal.push(key);
    if (this.#journal.length > 2 * JOURNAL_KEEP) {
      const drop = this.#journal.length - JOURNAL_KEEP;
      this.#journal = this.#journal.slice(drop);
      this.#journalStart += drop;
    }
  }

  /**
   * The journal as of now, for the translation of objects() taken at the same time: the keys of the
   * changes after a generation, up to this one.
   */
  journal(): ObjectJournal {
    const generation = this.#generation;
    return {
      generation,
      changedSince: (since) => {
        if (since < this.#journalStart || since > generation) return undefined;
        return this.#journal.slice(since - this.#journalStart, generation - this.#journalStart);
      },
    };
  }

  #noteChange(at: number): void {
    if (Number.isNaN(at)) return;
    this.#newestChange = this.#newestChange === undefined ? at : Math.max(this.#newestChange, at);
  }

  /**
   * Every indexed object, keyed by objectKey (the translation input), in key order: the order in
   * which changes arrived never leaks into the output.
   */
  objects(): ReadonlyMap<string, KubeObject> {
    if (!this.#sorted) {
      const keys = [...this.#envelopes.keys()].sort();
      this.#sorted = new Map(keys.map((k) => [k, (this.#envelopes.get(k) as ObjectEnvelope).object]));
    }
    // Later changes do not reach into it: the next one copies the map first (once per build, and
    // while the build's quiet period runs rather than on its way).
    this.#sortedShared = true;
    return this.#sorted;
  }

  /** The newest observation time among changes since the last call, and forgets it. */
  takeNewestChange(): string | undefined {
    const t = this.#newestChange;
    this.#newestChange = undefined;
    return t === undefined ? undefined : new Date(t).toISOString();
  }

  /** The trace contexts of the changes since the last call (oldest first), and forgets them. */
  takeTraces(): TraceContext[] {
    const t = this.#traces;
    this.#traces = [];
    return t;
  }

  /** Gives back trace contexts taken for a build that did not publish. */
  restoreTraces(traces: TraceContext[]): void {
    this.#traces = [...traces, ...this.#traces].slice(-MAX_TRACED_CHANGES);
  }

  /** Gives back an observation time taken for a build that did not publish. */
  restoreNewestChange(at: string | undefined): void {
    if (at !== undefined) this.#noteChange(Date.parse(at));
  }
}
