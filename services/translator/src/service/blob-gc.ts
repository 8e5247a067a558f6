// Which blobs may be deleted: a blob no manifest names is kept for a grace period (a proxy may still be
// fetching the snapshot that named it) and then collected. Pure: the caller owns the clock and the I/O.

export class BlobCollector {
  readonly #graceMs: number;
  /** hash → when it was first seen unreferenced (ms since epoch). */
  readonly #unreferencedSince = new Map<string, number>();

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** Re-evaluates every existing blob against the set of referenced hashes. */
  update(existing: Iterable<string>, referenced: ReadonlySet<string>, now: number): void {
    const live = new Set<string>();
    for (const h of existing) {
      live.add(h);
      this.mark(h, referenced.has(h), now);
    }
    for (const h of this.#unreferencedSince.keys()) if (!live.has(h)) this.#unreferencedSince.delete(h);
  }

  /** Re-evaluates one existing blob (the others are unchanged since the last look). */
  mark(hash: string, referenced: boolean, now: number): void {
    if (referenced) this.#unreferencedSince.delete(hash);
    else if (!this.#unreferencedSince.has(hash)) this.#unreferencedSince.set(hash, now);
  }

  /** Blobs unreferenced for at least the grace period. */
  due(now: number): string[] {
    const out: string[] = [];
    for (const [h, since] of this.#unreferencedSince) if (now - since >= this.#graceMs) out.push(h);
    return out.sort();
  }

  /** Stops tracking a blob (it was deleted). */
  forget(hash: string): void {
    this.#unreferencedSince.delete(hash);
  }

  get tracked(): number {
    return this.#unreferencedSince.size;
  }
}
