// The fan-out queue: streams whose waypoint changed wait here to be pushed. A stream is queued at
// most once (a newer snapshot replaces the older one, since it reads the latest when pushed), and
// pushes run in slices that yield to I/O between them.
export interface Pushable {
  push(): void;
}

export class PushQueue {
  readonly #queued = new Set<Pushable>();
  readonly #slice: number;
  readonly #onError: (err: unknown) => void;
  #scheduled = false;

  /** `slice`: pushes run before yielding to the event loop. */
  constructor(onError: (err: unknown) => void, slice = 64) {
    this.#onError = onError;
    this.#slice = slice;
  }

  get size(): number {
    return this.#queued.size;
  }

  schedule(p: Pushable): void {
    this.#queued.add(p);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#run());
    }
  }

  /** Drops a stream that ended. */
  cancel(p: Pushable): void {
    this.#queued.delete(p);
  }

  #run(): void {
    this.#scheduled = false;
    let n = 0;
    for (const p of this.#queued) {
      if (n++ >= this.#slice) break;
      this.#queued.delete(p);
      try {
        p.push();
      } catch (err) {
        this.#onError(err);
      }
    }
    if (this.#queued.size > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#run());
    }
  }
}
