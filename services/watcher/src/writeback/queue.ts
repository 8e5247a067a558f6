// A keyed work queue: each key is reconciled by one call at a time, a key marked again while it runs
// runs once more afterwards, and a failed key is retried with backoff. Work runs only while enabled.
import type { Logger } from "@waymark/api";

export class KeyedQueue {
  readonly #dirty = new Set<string>();
  readonly #running = new Set<string>();
  readonly #again = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #work: (key: string) => Promise<void>;
  readonly #log: Logger;
  readonly #concurrency: number;
  #enabled = false;
  #idle: Array<() => void> = [];

  constructor(work: (key: string) => Promise<void>, log: Logger, concurrency = 8) {
    this.#work = work;
    this.#log = log;
    this.#concurrency = concurrency;
  }

  add(key: string): void {
    if (this.#running.has(key)) this.#again.add(key);
    else this.#dirty.add(key);
    this.#pump();
  }

  enable(on: boolean): void {
    this.#enabled = on;
    if (!on) for (const t of this.#timers) clearTimeout(t);
    this.#pump();
  }

  /** Resolves when nothing is pending or running. */
  idle(): Promise<void> {
    if (this.#dirty.size === 0 && this.#running.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #pump(): void {
    if (!this.#enabled) return;
    for (const key of [...this.#dirty]) {
      if (this.#running.size >= this.#concurrency) return;
      this.#dirty.delete(key);
      this.#running.add(key);
      void this.#work(key)
        .then(
          () => this.#failures.delete(key),
          (err: unknown) => {
            const n = (this.#failures.get(key) ?? 0) + 1;
            this.#failures.set(key, n);
            const delay = Math.min(200 * 2 ** (n - 1), 10_000);
            this.#log.warn("write failed; retrying", { key, attempt: n, retryMs: delay, err });
            const t = setTimeout(() => {
              this.#timers.delete(t);
              this.add(key);
            }, delay);
            this.#timers.add(t);
          },
        )
        .finally(() => {
          this.#running.delete(key);
          if (this.#again.delete(key)) this.#dirty.add(key);
          this.#pump();
          if (this.#dirty.size === 0 && this.#running.size === 0) for (const r of this.#idle.splice(0)) r();
        });
    }
  }
}
