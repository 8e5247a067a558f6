// Response bodies (every field but the nonce) shared by the streams a change goes to. When a waypoint's
// RouteConfiguration changes, each of its proxies is owed the same delta response: the body is encoded
// for the first stream and found here by the others, which only add their nonce (wire.ts WireMessage).
// The cache spans snapshots and waypoints with one byte budget, oldest entry out first: it only needs
// to hold a body for as long as one fan-out takes, and an idle server should not keep a second copy of
// every resource. A miss costs one encode, never a wrong answer: keys name the snapshot object.

/** The bytes of bodies kept at most (a body larger than this is encoded per stream). */
export const SHARED_BODY_BUDGET = 16 * 1024 * 1024;

export class SharedBodies {
  readonly #budget: number;
  readonly #bodies = new Map<string, Uint8Array>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(budget = SHARED_BODY_BUDGET) {
    this.#budget = budget;
  }

  /** The body under `key`, encoded by `encode` on a miss. */
  get(key: string, encode: () => Uint8Array): Uint8Array {
    const hit = this.#bodies.get(key);
    if (hit) {
      this.hits++;
      // Most recently used last: the oldest entry is the first the map iterates.
      this.#bodies.delete(key);
      this.#bodies.set(key, hit);
      return hit;
    }
    this.misses++;
    const body = encode();
    if (body.length > this.#budget) return body;
    this.#bodies.set(key, body);
    this.#bytes += body.length;
    for (const [k, b] of this.#bodies) {
      if (this.#bytes <= this.#budget) break;
      this.#bodies.delete(k);
      this.#bytes -= b.length;
    }
    return body;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }
}

/** The cache every snapshot of this process shares. */
export const sharedBodies = new SharedBodies();

let nextId = 0;
/** A process-unique id for a snapshot's type (part of its cache keys). */
export function bodyScope(): string {
  return (++nextId).toString(36);
}
