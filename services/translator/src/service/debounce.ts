// Coalesces bursts of changes into one build: fire after a quiet period with no new change, but never
// later than a maximum delay after the first change that is still pending. No I/O; the clock and
// timers are injected so the behaviour can be tested step by step.

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface DebounceOptions {
  quietMs: number;
  maxMs: number;
  /** Called once per coalesced burst. */
  fire: () => void;
  timers?: Timers;
}

export interface Debouncer {
  /** Records a change. */
  poke(): void;
  /** True while a change is waiting for its build. */
  readonly pending: boolean;
  /** Forgets any pending change without firing. */
  cancel(): void;
}

export function createDebouncer(opts: DebounceOptions): Debouncer {
  const t = opts.timers ?? realTimers;
  let firstAt: number | undefined;
  let handle: unknown;
  const clear = () => {
    if (handle !== undefined) t.clearTimeout(handle);
    handle = undefined;
  };
  const flush = () => {
    handle = undefined;
    firstAt = undefined;
    opts.fire();
  };
  return {
    poke() {
      const now = t.now();
      firstAt ??= now;
      clear();
      const untilMax = firstAt + opts.maxMs - now;
      handle = t.setTimeout(flush, Math.max(0, Math.min(opts.quietMs, untilMax)));
    },
    get pending() {
      return firstAt !== undefined;
    },
    cancel() {
      clear();
      firstAt = undefined;
    },
  };
}
