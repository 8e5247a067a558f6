// The NATS side of the watcher: mirrors what the source reports into wm-objects (and source problems
// into wm-status). It keeps what the bucket holds in memory, writes only what changed, and retries
// until NATS takes it, so an outage delays changes but never loses them.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Condition,
  type KubeObject,
  type Logger,
  type ObjectEnvelope,
  type ObjectRef,
  refOf,
  type StatusEntry,
} from "@waymark/api";
import {
  buckets,
  type KV,
  listKeys,
  putJson,
  SOURCE_FILE_FILTER,
  sourceFileKey,
  sourceFileRef,
} from "@waymark/bus";
import { endSpan, logIds, SpanKind, startSpan, traceContextOf } from "@waymark/telemetry";
import { canonicalJson, stampStandalone, trimObject } from "./metadata.ts";
import type { ReplaceOptions, SourceProblem, SourceSink } from "./source.ts";

interface Entry<T> {
  value: T;
  /** What decides whether a write is needed: equal text, no write. */
  canon: string;
}

export interface PublisherOptions {
  objects: KV;
  status: KV;
  log: Logger;
  /** Stamp creationTimestamp, generation and uid (standalone sources). */
  stampMetadata: boolean;
  now?: () => Date;
  /** Keys written at once. */
  concurrency?: number;
  /**
   * The largest envelope (JSON bytes) published; a larger object is not published, its previous
   * version stays, and the problem is logged (and reported on its SourceFile for files).
   */
  maxObjectBytes?: number;
}

/** Room left in an envelope for the trace context added when it is written. */
const TRACE_RESERVE = 256;

interface TooLarge {
  /** The source file it came from (`file:<rel>#<doc>` origins), for its SourceFile status. */
  file: string | undefined;
  problem: SourceProblem;
}

/** Objects are equal when their content and their origin file are (a document moving within a file is no change). */
function objectCanon(object: KubeObject, origin: string): string {
  const hash = origin.indexOf("#");
  return `${hash < 0 ? origin : origin.slice(0, hash)}\n${canonicalJson(object)}`;
}

function problemCanon(c: Condition): string {
  return canonicalJson({ reason: c.reason, message: c.message });
}

/** The span of one change sent to wm-objects (OpenTelemetry messaging conventions: `send <destination>`). */
function changeSpan(key: string, op: "put" | "delete", env: ObjectEnvelope) {
  const meta = env.object.metadata;
  const observed = Date.parse(env.observedAt);
  return startSpan(`send ${buckets.objects.bucket}`, {
    kind: SpanKind.PRODUCER,
    parent: null,
    ...(op === "put" && !Number.isNaN(observed) ? { startTime: observed } : {}),
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.name": "send",
      "messaging.operation.type": "send",
      "messaging.destination.name": buckets.objects.bucket,
      "messaging.message.id": key,
      "waymark.change.operation": op,
      "waymark.change.source": env.source,
      "k8s.object.kind": env.object.kind,
      "k8s.object.name": meta.name,
      ...(meta.namespace ? { "k8s.namespace.name": meta.namespace } : {}),
    },
  });
}

export class ObjectPublisher implements SourceSink {
  readonly #o: Required<Omit<PublisherOptions, "now">> & { now: () => Date };
  /** What the buckets hold, as far as we know. */
  readonly #published = new Map<string, Entry<ObjectEnvelope>>();
  readonly #publishedProblems = new Map<string, Entry<StatusEntry> | null>();
  /** What they should hold. */
  readonly #desired = new Map<string, Entry<ObjectEnvelope>>();
  readonly #desiredProblems = new Map<string, Entry<StatusEntry>>();
  readonly #dirty = new Set<string>();
  readonly #dirtyProblems = new Set<string>();
  #running = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #writes = 0;
  #relists = 0;
  /** Objects refused for their size (key → why), and the problems each source file reported. */
  readonly #tooLarge = new Map<string, TooLarge>();
  readonly #sourceProblems = new Map<string, readonly SourceProblem[]>();
  #refusedTooLarge = 0;

  constructor(opts: PublisherOptions) {
    this.#o = { concurrency: 16, now: () => new Date(), maxObjectBytes: Number.POSITIVE_INFINITY, ...opts };
  }

  /** Reads what the buckets hold now (retrying while NATS is unavailable). Call once, before the source starts. */
  async load(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#published.clear();
        this.#publishedProblems.clear();
        for (const key of await listKeys(this.#o.objects)) {
          const e = await this.#o.objects.get(key);
          if (e?.operation !== "PUT") continue;
          const env = e.json<ObjectEnvelope>();
          this.#published.set(key, { value: env, canon: objectCanon(env.object, env.source) });
        }
        for (const key of await listKeys(this.#o.status, SOURCE_FILE_FILTER))
          this.#publishedProblems.set(key, null);
        break;
      } catch (err) {
        if (this.#closed) throw err;
        this.#o.log.warn("cannot read the buckets yet; retrying", { attempt, err });
        await sleep(Math.min(250 * attempt, 2000));
      }
    }
    this.#desired.clear();
    for (const [k, v] of this.#published) this.#desired.set(k, v);
    this.#o.log.info("loaded the objects bucket", { objects: this.#published.size });
  }

  replaceAll(
    objects: ReadonlyArray<{ object: KubeObject; origin: string }>,
    opts: ReplaceOptions = {},
  ): void {
    this.#relists++;
    const next = new Map<string, Entry<ObjectEnvelope>>();
    const listed = new Set<string>();
    for (const { object, origin } of objects) {
      const key = buckets.objects.key(refOf(object));
      listed.add(key);
      const entry = this.#prepare(key, object, origin);
      if (entry) next.set(key, entry);
    }
    for (const key of [...this.#tooLarge.keys()]) if (!listed.has(key)) this.#clearTooLarge(key);
    for (const [key, entry] of this.#desired) {
      if (!next.has(key) && opts.keep?.(entry.value.source)) next.set(key, entry);
    }
    for (const key of new Set([...this.#desired.keys(), ...next.keys()])) {
      if (this.#desired.get(key) !== next.get(key)) this.#dirty.add(key);
    }
    this.#desired.clear();
    for (const [k, v] of next) this.#desired.set(k, v);
    // A full listing reports every current problem first: whatever else is in the bucket is stale.
    for (const key of this.#publishedProblems.keys()) {
      if (!this.#desiredProblems.has(key)) this.#dirtyProblems.add(key);
    }
    this.#kick();
  }

  upsert(object: KubeObject, origin: string): void {
    const key = buckets.objects.key(refOf(object));
    const entry = this.#prepare(key, object, origin);
    if (!entry || entry === this.#desired.get(key)) return;
    this.#desired.set(key, entry);
    this.#dirty.add(key);
    this.#kick();
  }

  remove(ref: ObjectRef): void {
    const key = buckets.objects.key(ref);
    this.#clearTooLarge(key);
    if (!this.#desired.delete(key)) return;
    this.#dirty.add(key);
    this.#kick();
  }

  reportSourceProblem(name: string, problems: readonly SourceProblem[]): void {
    if (problems.length === 0) this.#sourceProblems.delete(name);
    else this.#sourceProblems.set(name, problems);
    this.#publishProblems(name);
  }

  clearSourceProblem(name: string): void {
    this.#sourceProblems.delete(name);
    this.#publishProblems(name);
  }

  /** The file's status: what the source reported about it, then the objects refused for their size. */
  #publishProblems(name: string): void {
    const problems = [...(this.#sourceProblems.get(name) ?? [])];
    for (const t of this.#tooLarge.values()) if (t.file === name) problems.push(t.problem);
    const first = problems[0];
    if (!first) {
      const key = sourceFileKey(name);
      if (!this.#desiredProblems.delete(key)) return;
      this.#dirtyProblems.add(key);
      this.#kick();
      return;
    }
    const key = sourceFileKey(name);
    const condition: Condition = {
      type: "Accepted",
      status: "False",
      reason: first.reason,
      message: problems.map((p) => p.message).join("\n"),
    };
    const canon = problemCanon(condition);
    if (this.#desiredProblems.get(key)?.canon === canon) return;
    const now = this.#o.now().toISOString();
    condition.lastTransitionTime = now;
    const value: StatusEntry = {
      ref: sourceFileRef(name),
      status: { conditions: [condition] },
      computedAt: now,
    };
    this.#desiredProblems.set(key, { value, canon });
    this.#dirtyProblems.add(key);
    this.#kick();
  }

  /** Number of puts and deletes done so far (for logs and tests). */
  get writes(): number {
    return this.#writes;
  }

  /** Full listings (replaceAll) received so far: the initial one plus every relist. */
  get relists(): number {
    return this.#relists;
  }

  /** Objects not published now because they are larger than the limit. */
  get tooLarge(): number {
    return this.#tooLarge.size;
  }

  /** Times an object (or a new version of one) was refused for its size. */
  get refusedTooLarge(): number {
    return this.#refusedTooLarge;
  }

  /** Keys waiting to be written. */
  get pending(): number {
    return this.#dirty.size + this.#dirtyProblems.size;
  }

  /** Resolves once everything reported so far is in NATS. */
  idle(): Promise<void> {
    if (!this.#running && this.#dirty.size === 0 && this.#dirtyProblems.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Waits (at most timeoutMs) for pending writes, then stops writing. */
  async close(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.idle().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!flushed) this.#o.log.warn("stopping with unwritten changes", { pending: this.#dirty.size });
    this.#closed = true;
  }

  /**
   * The envelope to publish for this object; the current one when nothing changed, or when the
   * object is too large (then undefined if there is no current one: nothing is published).
   */
  #prepare(key: string, object: KubeObject, origin: string): Entry<ObjectEnvelope> | undefined {
    const current = this.#desired.get(key);
    let obj = trimObject(object);
    if (this.#o.stampMetadata) obj = stampStandalone(obj, current?.value.object, this.#o.now());
    const canon = objectCanon(obj, origin);
    if (current && current.canon === canon) {
      this.#clearTooLarge(key);
      return current;
    }
    const value: ObjectEnvelope = { object: obj, observedAt: this.#o.now().toISOString(), source: origin };
    const bytes = Buffer.byteLength(JSON.stringify(value)) + TRACE_RESERVE;
    if (bytes > this.#o.maxObjectBytes) {
      this.#refuseTooLarge(key, obj, origin, bytes, current !== undefined);
      return current;
    }
    this.#clearTooLarge(key);
    return { value, canon };
  }

  #refuseTooLarge(key: string, obj: KubeObject, origin: string, bytes: number, kept: boolean): void {
    const limit = this.#o.maxObjectBytes;
    const m = /^file:(.*)#[^#]*$/.exec(origin);
    const file = m?.[1];
    const meta = obj.metadata;
    const what = `${obj.kind} ${meta.namespace ? `${meta.namespace}/` : ""}${meta.name}`;
    const message =
      `${file ? `${file}: ` : ""}${what} is ${bytes} bytes as published, over the limit of ${limit} bytes ` +
      `(WAYMARK_MAX_OBJECT_BYTES, at most the NATS server's max_payload); it is not published` +
      (kept ? ", and its previous version stays in force" : "");
    const before = this.#tooLarge.get(key);
    if (before?.problem.message === message) return;
    this.#refusedTooLarge++;
    this.#tooLarge.set(key, { file, problem: { reason: "ObjectTooLarge", message } });
    this.#o.log.error("object too large; not published", {
      key,
      kind: obj.kind,
      namespace: meta.namespace,
      name: meta.name,
      source: origin,
      bytes,
      limit,
      keptPrevious: kept,
    });
    if (file) this.#publishProblems(file);
    if (before?.file && before.file !== file) this.#publishProblems(before.file);
  }

  #clearTooLarge(key: string): void {
    const before = this.#tooLarge.get(key);
    if (!before) return;
    this.#tooLarge.delete(key);
    this.#o.log.info("object no longer too large", { key });
    if (before.file) this.#publishProblems(before.file);
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
      if (this.#dirty.size > 0 || this.#dirtyProblems.size > 0) this.#kick();
      else for (const w of this.#idleWaiters.splice(0)) w();
    });
  }

  async #run(): Promise<void> {
    let backoff = 250;
    while (!this.#closed && (this.#dirty.size > 0 || this.#dirtyProblems.size > 0)) {
      const jobs: Array<{ key: string; retry: () => void; run: () => Promise<void> }> = [];
      for (const key of this.#dirty) {
        jobs.push({ key, retry: () => this.#dirty.add(key), run: () => this.#syncObject(key) });
      }
      for (const key of this.#dirtyProblems) {
        jobs.push({ key, retry: () => this.#dirtyProblems.add(key), run: () => this.#syncProblem(key) });
      }
      this.#dirty.clear();
      this.#dirtyProblems.clear();
      let failure: unknown;
      for (let i = 0; i < jobs.length; i += this.#o.concurrency) {
        const chunk = jobs.slice(i, i + this.#o.concurrency);
        if (failure !== undefined || this.#closed) {
          for (const j of chunk) j.retry();
          continue;
        }
        const results = await Promise.allSettled(chunk.map((j) => j.run()));
        results.forEach((r, n) => {
          if (r.status === "rejected") {
            failure ??= r.reason;
            chunk[n]?.retry();
          }
        });
      }
      if (failure !== undefined) {
        this.#o.log.warn("cannot write to NATS; retrying", {
          pending: this.#dirty.size,
          err: failure,
          backoffMs: backoff,
        });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      } else {
        backoff = 250;
      }
    }
  }

  async #syncObject(key: string): Promise<void> {
    const want = this.#desired.get(key);
    const have = this.#published.get(key);
    if (want) {
      if (have?.canon === want.canon) return;
      // One PRODUCER span per change, from when it was observed to when NATS stored it; its context
      // travels in the envelope to the translator.
      const span = changeSpan(key, "put", want.value);
      want.value.trace = traceContextOf(span);
      if (!want.value.trace) delete want.value.trace;
      try {
        await putJson(this.#o.objects, key, want.value);
      } catch (err) {
        endSpan(span, { error: err });
        throw err;
      }
      endSpan(span);
      this.#published.set(key, want);
      this.#writes++;
      this.#o.log.debug("published", { key, source: want.value.source, ...logIds(span) });
    } else if (have) {
      const span = changeSpan(key, "delete", have.value);
      try {
        await this.#o.objects.delete(key);
      } catch (err) {
        endSpan(span, { error: err });
        throw err;
      }
      endSpan(span);
      this.#published.delete(key);
      this.#writes++;
      this.#o.log.debug("deleted", { key, ...logIds(span) });
    }
  }

  async #syncProblem(key: string): Promise<void> {
    const want = this.#desiredProblems.get(key);
    const have = this.#publishedProblems.get(key);
    if (want) {
      if (have?.canon === want.canon) return;
      await putJson(this.#o.status, key, want.value);
      this.#publishedProblems.set(key, want);
    } else if (have !== undefined) {
      await this.#o.status.delete(key);
      this.#publishedProblems.delete(key);
    }
  }
}
