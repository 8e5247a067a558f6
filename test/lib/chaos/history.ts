// What the chaos suite wrote and what each proxy saw, and the checks over the two. Pure: no I/O.
//
// Every change to an HTTPRoute carries a marker `<route>-v<N>` (N counts every change of the run, so
// a route's markers increase with time). The source history keeps, per route, its lifetimes: from
// the write that created it to the moment its deletion was issued. A proxy's observation is the set
// of routes (route → marker) its configuration made effective after one received response.

/** One change the suite applied to the source. */
export interface Change {
  seq: number;
  route: string;
  op: "create" | "update" | "delete";
  /** Marker value written (create/update); for a delete, the seq it was issued with. */
  marker: number;
  /** When the write was issued and when the source acknowledged it (epoch ms). */
  issuedAt: number;
  doneAt: number;
}

interface Lifetime {
  /** The marker of the create that began it. */
  first: number;
  /** Markers written during it, in order. */
  markers: number[];
  /** When the delete that ended it was issued (undefined: it still exists). */
  deleteIssuedAt: number | undefined;
}

export class SourceHistory {
  readonly changes: Change[] = [];
  readonly #lifetimes = new Map<string, Lifetime[]>();
  #seq = 0;

  /** The next marker / sequence number. */
  next(): number {
    return ++this.#seq;
  }

  /** Whether the route exists in the source now (as far as the writes go). */
  exists(route: string): boolean {
    const l = this.#lifetimes.get(route)?.at(-1);
    return l !== undefined && l.deleteIssuedAt === undefined;
  }

  /** Records a delete before it is issued (a proxy may drop the route from then on). */
  deleting(route: string, at: number): void {
    const l = this.#lifetimes.get(route)?.at(-1);
    if (l && l.deleteIssuedAt === undefined) l.deleteIssuedAt = at;
  }

  record(c: Change): void {
    this.changes.push(c);
    const list = this.#lifetimes.get(c.route) ?? [];
    this.#lifetimes.set(c.route, list);
    if (c.op === "delete") return;
    const cur = list.at(-1);
    if (c.op === "create" || !cur || cur.deleteIssuedAt !== undefined)
      list.push({ first: c.marker, markers: [c.marker], deleteIssuedAt: undefined });
    else cur.markers.push(c.marker);
  }

  /** route → last marker, for the routes that exist at the end. */
  final(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [r, list] of this.#lifetimes) {
      const l = list.at(-1);
      if (l && l.deleteIssuedAt === undefined) out.set(r, l.markers.at(-1)!);
    }
    return out;
  }

  /** The lifetime a marker of `route` belongs to. */
  lifetimeOf(route: string, marker: number): Lifetime | undefined {
    return this.#lifetimes.get(route)?.find((l) => l.markers.includes(marker));
  }

  /** Whether `marker` was ever written to `route`. */
  written(route: string, marker: number): boolean {
    return this.lifetimeOf(route, marker) !== undefined;
  }
}

/** One configuration a proxy held after applying a response. */
export interface Observation {
  at: number;
  /** The xDS type of the response that produced it. */
  typeUrl: string;
  /** route → marker, as effective in the proxy's configuration. */
  routes: ReadonlyMap<string, number>;
}

export interface ProxyVerdict {
  proxy: string;
  observations: number;
  /** Marker values seen that were never written (corruption). */
  unknown: string[];
  /** A route's marker went back (an older change applied after a newer one). */
  outOfOrder: string[];
  /** A route that existed in the source throughout was missing from a received configuration. */
  brokenBeforeMade: string[];
  /** The last observation differs from the source's final state. */
  finalMismatch: string[];
  /** Distinct marker values seen per route, summed (how many versions the proxy went through). */
  markersSeen: number;
}

const MAX_REPORTED = 10;
const push = (list: string[], s: string) => {
  if (list.length < MAX_REPORTED) list.push(s);
};

/**
 * Checks one proxy's observations against the source history:
 * - every marker seen was written, and per route the markers seen only increase;
 * - make-before-break: once the proxy has seen a route during one of its lifetimes, every later
 *   observation until that lifetime's delete was issued contains the route;
 * - the last observation is exactly the source's final state.
 */
export function checkProxy(proxy: string, obs: readonly Observation[], h: SourceHistory): ProxyVerdict {
  const v: ProxyVerdict = {
    proxy,
    observations: obs.length,
    unknown: [],
    outOfOrder: [],
    brokenBeforeMade: [],
    finalMismatch: [],
    markersSeen: 0,
  };
  const last = new Map<string, number>();
  /** route → the lifetime the proxy holds it in (set when first seen in that lifetime). */
  const held = new Map<string, Lifetime>();
  for (const o of obs) {
    for (const [route, marker] of o.routes) {
      const l = h.lifetimeOf(route, marker);
      if (!l) {
        push(v.unknown, `${route}-v${marker} at ${o.at}`);
        continue;
      }
      const prev = last.get(route);
      if (prev !== undefined && marker < prev)
        push(v.outOfOrder, `${route}: v${marker} after v${prev} (at ${o.at}, ${o.typeUrl})`);
      if (prev !== marker) v.markersSeen++;
      last.set(route, marker);
      held.set(route, l);
    }
    for (const [route, l] of held) {
      if (o.routes.has(route)) continue;
      if (l.deleteIssuedAt === undefined || o.at < l.deleteIssuedAt)
        push(
          v.brokenBeforeMade,
          `${route} (held at v${last.get(route)}) missing at ${o.at} after a ${o.typeUrl.split(".").at(-1)} response` +
            (l.deleteIssuedAt === undefined ? "; never deleted" : `; deleted at ${l.deleteIssuedAt}`),
        );
      held.delete(route);
    }
  }
  const want = h.final();
  const have = obs.at(-1)?.routes ?? new Map<string, number>();
  for (const [r, m] of want)
    if (have.get(r) !== m)
      push(v.finalMismatch, `${r}: want v${m}, have ${have.has(r) ? `v${have.get(r)}` : "none"}`);
  for (const [r, m] of have) if (!want.has(r)) push(v.finalMismatch, `${r}: deleted, have v${m}`);
  return v;
}

/** route → marker from a route configuration's JSON (header values `<route>-v<N>` on its routes). */
export const MARKER = /\b(chaos-\d+)-v(\d+)\b/g;
