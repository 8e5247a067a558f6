// One waypoint's complete xDS snapshot in memory, built from its manifest and the blobs it names.
// Pure: no I/O. Encodings are computed once and cached on the objects, so every stream serving the
// same waypoint shares them.
import type { TraceContext, WaypointManifest, WaypointRef } from "@waymark/api";
import { versionOf } from "@waymark/envoy-proto";
import { bodyScope, sharedBodies } from "./shared-bodies.ts";
import { encodeAny, encodeDeltaBody, encodeDeltaResource, encodeSotwBody } from "./wire.ts";

/** Encoded resource bytes from NATS, cached by content hash and shared across waypoints. */
export class Blob {
  readonly hash: string;
  readonly bytes: Uint8Array;
  #any = new Map<string, Uint8Array>();
  constructor(hash: string, bytes: Uint8Array) {
    this.hash = hash;
    this.bytes = bytes;
  }
  /** The resource wrapped in a google.protobuf.Any of the given type (built once per type). */
  any(typeUrl: string): Uint8Array {
    let a = this.#any.get(typeUrl);
    if (!a) {
      a = encodeAny(typeUrl, this.bytes);
      this.#any.set(typeUrl, a);
    }
    return a;
  }
}

/** One named resource of a snapshot; its version (for delta xDS) is its content hash. */
export class ResourceEntry {
  readonly typeUrl: string;
  readonly name: string;
  readonly hash: string;
  readonly blob: Blob;
  #delta: Uint8Array | undefined;
  constructor(typeUrl: string, name: string, blob: Blob) {
    this.typeUrl = typeUrl;
    this.name = name;
    this.hash = blob.hash;
    this.blob = blob;
  }
  get any(): Uint8Array {
    return this.blob.any(this.typeUrl);
  }
  /** The delta-xDS Resource message (name, version = hash, Any), encoded once. */
  get delta(): Uint8Array {
    this.#delta ??= encodeDeltaResource(this.name, this.hash, this.any);
    return this.#delta;
  }
}

/** The resources of one type in a snapshot. */
export class TypeSnapshot {
  readonly typeUrl: string;
  readonly version: string;
  readonly resources: ReadonlyMap<string, ResourceEntry>;
  #full: Uint8Array | undefined;
  /** Prefix of this type snapshot's keys in the shared body cache. */
  readonly #scope = bodyScope();
  constructor(typeUrl: string, version: string, resources: ReadonlyMap<string, ResourceEntry>) {
    this.typeUrl = typeUrl;
    this.version = version;
    this.resources = resources;
  }
  /** The state-of-the-world response body (no nonce) carrying every resource, encoded once. */
  get fullBody(): Uint8Array {
    this.#full ??= encodeSotwBody(
      this.version,
      this.typeUrl,
      [...this.resources.values()].map((r) => r.any),
    );
    return this.#full;
  }
  /** A state-of-the-world body carrying only the named resources that exist (sorted by name). */
  partialBody(names: Iterable<string>): Uint8Array {
    const picked: ResourceEntry[] = [];
    for (const n of names) {
      const r = this.resources.get(n);
      if (r) picked.push(r);
    }
    if (picked.length === this.resources.size) return this.fullBody;
    picked.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Streams subscribed to the same names share one body (names identify entries in this snapshot).
    const key = `${this.#scope}\u0000s\u0000${picked.map((r) => r.name).join("\u0000")}`;
    return sharedBodies.get(key, () =>
      encodeSotwBody(
        this.version,
        this.typeUrl,
        picked.map((r) => r.any),
      ),
    );
  }

  /**
   * A delta response body (no nonce) carrying these entries of this snapshot and these removals, in
   * the order given; every stream owed the same update shares it.
   */
  deltaBody(send: readonly ResourceEntry[], removed: readonly string[]): Uint8Array {
    const key =
      send.length === this.resources.size && removed.length === 0
        ? `${this.#scope}\u0000d*` // everything, in name order (the session sorts what it sends)
        : `${this.#scope}\u0000d\u0000${send.map((e) => e.name).join("\u0000")}\u0001${removed.join("\u0000")}`;
    return sharedBodies.get(key, () =>
      encodeDeltaBody({
        systemVersion: this.version,
        typeUrl: this.typeUrl,
        resources: send.map((e) => e.delta),
        removed,
      }),
    );
  }
}

const EMPTY_VERSION = versionOf({});

export class Snapshot {
  /** The manifest key (`manifest.<ns>.<gw>`) this snapshot came from. */
  readonly key: string;
  readonly waypoint: WaypointRef;
  readonly version: string;
  readonly observedAt: string | undefined;
  readonly trace: TraceContext | undefined;
  readonly #types: ReadonlyMap<string, TypeSnapshot>;
  constructor(
    key: string,
    manifest: Pick<WaypointManifest, "waypoint" | "version" | "observedAt" | "trace">,
    types: ReadonlyMap<string, TypeSnapshot>,
  ) {
    this.key = key;
    this.waypoint = manifest.waypoint;
    this.version = manifest.version;
    this.observedAt = manifest.observedAt;
    this.trace = manifest.trace;
    this.#types = types;
  }
  /** Every type the manifest names. */
  types(): IterableIterator<TypeSnapshot> {
    return this.#types.values();
  }
  /** The resources of a type; a type the manifest does not name is an empty set. */
  type(typeUrl: string): TypeSnapshot {
    return this.#types.get(typeUrl) ?? new TypeSnapshot(typeUrl, EMPTY_VERSION, new Map());
  }
}

/**
 * Builds a snapshot from a manifest whose blobs are all available. Entries unchanged since `previous`
 * (same type, name and hash) are reused, keeping their cached encodings.
 */
export function buildSnapshot(
  key: string,
  m: WaypointManifest,
  blob: (hash: string) => Blob,
  previous?: Snapshot,
): Snapshot {
  const types = new Map<string, TypeSnapshot>();
  for (const [typeUrl, byName] of Object.entries(m.resources ?? {})) {
    const prev = previous?.type(typeUrl).resources;
    const entries = new Map<string, ResourceEntry>();
    for (const name of Object.keys(byName).sort()) {
      const hash = byName[name]!;
      const old = prev?.get(name);
      entries.set(name, old && old.hash === hash ? old : new ResourceEntry(typeUrl, name, blob(hash)));
    }
    const version = m.versions?.[typeUrl] ?? versionOf(byName);
    types.set(typeUrl, new TypeSnapshot(typeUrl, version, entries));
  }
  for (const [typeUrl, version] of Object.entries(m.versions ?? {})) {
    if (!types.has(typeUrl)) types.set(typeUrl, new TypeSnapshot(typeUrl, version, new Map()));
  }
  return new Snapshot(key, m, types);
}
