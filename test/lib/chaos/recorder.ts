// A simulated waypoint Envoy that records every configuration it receives. Like Envoy it subscribes
// to CDS and LDS (wildcard), then to EDS for the EDS clusters and RDS for the route configurations
// its listeners name, ACKs every response, keeps what it holds across reconnects (delta: as
// initial_resource_versions; SotW: the accepted version_info), and when its stream fails reconnects
// to the next xds-server replica. After each response it records the routes its configuration makes
// effective: the HTTPRoute markers in the route configurations its listeners name, on routes whose
// cluster it holds.

import { type JsonObject, TypeUrl } from "@waymark/envoy-proto";
import {
  AdsClient,
  type DeltaStream,
  deltaResources,
  type SotwStream,
  sotwResources,
} from "@waymark/testing/ads-client";
import { MARKER, type Observation } from "./history.ts";

export type Protocol = "delta" | "sotw";

interface Held {
  version: string;
  json: JsonObject;
}

const ROOTS = [TypeUrl.cluster, TypeUrl.listener] as const;
const CHILD: Record<string, string> = {
  [TypeUrl.cluster]: TypeUrl.endpoint,
  [TypeUrl.listener]: TypeUrl.route,
};

/** Route configuration names a listener's HTTP connection managers fetch by RDS. */
function rdsNames(listener: JsonObject): string[] {
  return [...JSON.stringify(listener).matchAll(/"routeConfigName":"([^"]+)"/g)].map((m) => m[1]!);
}

/** EDS clusters need their ClusterLoadAssignment. */
const isEds = (cluster: JsonObject) => cluster["type"] === "EDS" || cluster["edsClusterConfig"] !== undefined;

export class RecordingProxy {
  readonly id: string;
  readonly protocol: Protocol;
  readonly observations: Observation[] = [];
  /** Responses received, per type. */
  readonly responses: Record<string, number> = {};
  /** The version of each type last accepted (the response's system / version info). */
  readonly versions = new Map<string, string>();
  reconnects = 0;
  /** Connection errors (each followed by a reconnect). */
  readonly errors: string[] = [];
  readonly #cluster: string;
  readonly #targets: string[];
  readonly #held = new Map<string, Map<string, Held>>();
  /** EDS / RDS names wanted. */
  readonly #wanted = new Map<string, Set<string>>();
  readonly #nonce = new Map<string, string>();
  #target: number;
  #client: AdsClient | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(o: { id: string; cluster: string; protocol: Protocol; targets: string[]; first?: number }) {
    this.id = o.id;
    this.protocol = o.protocol;
    this.#cluster = o.cluster;
    this.#targets = o.targets;
    this.#target = o.first ?? 0;
    for (const t of [...ROOTS, TypeUrl.endpoint, TypeUrl.route]) this.#held.set(t, new Map());
    this.#wanted.set(TypeUrl.endpoint, new Set());
    this.#wanted.set(TypeUrl.route, new Set());
  }

  /** The xds-server (host:port) the current stream goes to. */
  get target(): string {
    return this.#targets[this.#target % this.#targets.length]!;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#client?.close();
    await this.#loop;
  }

  /** name → resource version held, per type (delta: blob hashes). */
  held(typeUrl: string): Map<string, string> {
    return new Map([...this.#held.get(typeUrl)!].map(([n, h]) => [n, h.version]));
  }

  /** route → marker, effective now. */
  routes(): Map<string, number> {
    const clusters = this.#held.get(TypeUrl.cluster)!;
    const routeConfigs = this.#held.get(TypeUrl.route)!;
    const out = new Map<string, number>();
    for (const l of this.#held.get(TypeUrl.listener)!.values()) {
      for (const name of rdsNames(l.json)) {
        const rc = routeConfigs.get(name)?.json as
          | { virtualHosts?: Array<{ routes?: Array<{ route?: { cluster?: string } }> }> }
          | undefined;
        for (const vh of rc?.virtualHosts ?? []) {
          for (const r of vh.routes ?? []) {
            const cluster = r.route?.cluster;
            if (cluster !== undefined && !clusters.has(cluster)) continue;
            for (const m of JSON.stringify(r).matchAll(MARKER)) {
              const marker = Number(m[2]);
              const prev = out.get(m[1]!);
              if (prev === undefined || marker > prev) out.set(m[1]!, marker);
            }
          }
        }
      }
    }
    return out;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const client = new AdsClient(this.target);
      this.#client = client;
      try {
        if (this.protocol === "delta") await this.#delta(client.delta());
        else await this.#sotw(client.sotw());
      } catch (err) {
        if (!this.#stopped) this.errors.push(`${this.target}: ${(err as Error).message}`);
      }
      client.close();
      if (this.#stopped) return;
      // Envoy backs off with jitter, then (with two endpoints in its xDS cluster) tries the other.
      this.#target++;
      this.reconnects++;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
    }
  }

  async #next<R>(s: { next(ms: number, what: string): Promise<R> }): Promise<R | undefined> {
    try {
      return await s.next(5_000, "a response");
    } catch (err) {
      if (/^no response within/.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  #observe(typeUrl: string): void {
    this.responses[typeUrl] = (this.responses[typeUrl] ?? 0) + 1;
    this.observations.push({ at: Date.now(), typeUrl, routes: this.routes() });
  }

  /** The EDS / RDS names the held CDS / LDS resources call for. */
  #childNames(t: string): Set<string> {
    const out = new Set<string>();
    for (const h of this.#held.get(t)!.values()) {
      if (t === TypeUrl.cluster) {
        if (isEds(h.json)) out.add(String(h.json["name"]));
      } else for (const n of rdsNames(h.json)) out.add(n);
    }
    return out;
  }

  async #delta(s: DeltaStream): Promise<void> {
    const node = { id: this.id, cluster: this.#cluster };
    const initial = (t: string) => Object.fromEntries(this.held(t));
    for (const t of ROOTS) s.send({ typeUrl: t, node, initialVersions: initial(t) });
    for (const t of [TypeUrl.endpoint, TypeUrl.route]) {
      const names = [...this.#wanted.get(t)!];
      if (names.length) s.send({ typeUrl: t, subscribe: names, initialVersions: initial(t) });
    }
    while (!this.#stopped) {
      const res = await this.#next(s);
      if (!res) continue;
      const held = this.#held.get(res.typeUrl);
      if (!held) {
        s.ack(res);
        continue;
      }
      for (const n of res.removedResources) held.delete(n);
      for (const [n, r] of deltaResources(res)) held.set(n, r);
      this.versions.set(res.typeUrl, res.systemVersionInfo);
      this.#observe(res.typeUrl);
      s.ack(res);
      const child = CHILD[res.typeUrl];
      if (child) {
        const want = this.#childNames(res.typeUrl);
        const had = this.#wanted.get(child)!;
        const add = [...want].filter((n) => !had.has(n));
        const drop = [...had].filter((n) => !want.has(n));
        this.#wanted.set(child, want);
        for (const n of drop) this.#held.get(child)!.delete(n);
        if (add.length || drop.length) s.send({ typeUrl: child, subscribe: add, unsubscribe: drop });
      }
    }
  }

  async #sotw(s: SotwStream): Promise<void> {
    const node = { id: this.id, cluster: this.#cluster };
    for (const t of ROOTS) s.send({ typeUrl: t, node, versionInfo: this.versions.get(t) ?? "" });
    for (const t of [TypeUrl.endpoint, TypeUrl.route]) {
      const names = [...this.#wanted.get(t)!].sort();
      if (names.length) s.send({ typeUrl: t, resourceNames: names, versionInfo: this.versions.get(t) ?? "" });
    }
    this.#nonce.clear();
    while (!this.#stopped) {
      const res = await this.#next(s);
      if (!res) continue;
      const held = this.#held.get(res.typeUrl);
      if (!held) {
        s.ack(res);
        continue;
      }
      // A SotW response carries the whole set (CDS, LDS) or every requested name (EDS, RDS).
      held.clear();
      for (const [n, json] of sotwResources(res)) held.set(n, { version: res.versionInfo, json });
      this.versions.set(res.typeUrl, res.versionInfo);
      this.#nonce.set(res.typeUrl, res.nonce);
      this.#observe(res.typeUrl);
      const wanted = this.#wanted.get(res.typeUrl);
      s.ack(res, wanted ? [...wanted].sort() : []);
      const child = CHILD[res.typeUrl];
      if (child) {
        const want = this.#childNames(res.typeUrl);
        const had = this.#wanted.get(child)!;
        if ([...want].sort().join() !== [...had].sort().join()) {
          this.#wanted.set(child, want);
          for (const n of had) if (!want.has(n)) this.#held.get(child)!.delete(n);
          s.send({
            typeUrl: child,
            resourceNames: [...want].sort(),
            versionInfo: this.versions.get(child) ?? "",
            responseNonce: this.#nonce.get(child) ?? "",
          });
        }
      }
    }
  }
}
