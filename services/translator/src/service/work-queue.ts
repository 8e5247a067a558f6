// One build or sweep at a time: a serial queue of jobs, and build requests coalesced into at most one
// queued build (a request while one is queued adds nothing; one while a build runs queues the next).
// A failed build can ask for another one later (retryIn). A job's failure is logged, never thrown.
import type { Logger } from "@waymark/api";

export class WorkQueue {
  readonly #log: Logger;
  readonly #build: () => Promise<void>;
  #tail: Promise<void> = Promise.resolve();
  #buildQueued = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** `build`: one build, run by the queue for each coalesced request. */
  constructor(log: Logger, build: () => Promise<void>) {
    this.#log = log;
    this.#build = build;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Runs `fn` after every job queued before it. */
  enqueue(what: string, fn: () => Promise<void>): void {
    this.#tail = this.#tail.then(fn).catch((err: unknown) => this.#log.error(`${what} failed`, { err }));
  }

  /** Asks for a build; coalesced with one already queued (not yet started). */
  requestBuild(): void {
    if (this.#stopped || this.#buildQueued) return;
    this.#buildQueued = true;
    this.enqueue("build", async () => {
      this.#buildQueued = false;
      if (!this.#stopped) await this.#build();
    });
  }

  /** Asks for a build in `ms` (replacing a retry already set). */
  retryIn(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.requestBuild(), ms);
  }

  /** Takes no more requests, cancels the retry, and resolves when the running job is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#tail;
  }
}
