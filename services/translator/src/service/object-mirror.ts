// wm-objects mirrored in memory: a watch of the bucket applied to an ObjectIndex. Changes during the
// initial load are part of it (onLoaded, once, when the watch has caught up); after it, each change
// that alters the index calls onChange. A malformed entry is skipped with a warning.
import type { Logger } from "@waymark/api";
import { type KV, type Watch, watchBucket } from "@waymark/bus";
import { MalformedEntryError, ObjectIndex } from "./object-index.ts";

export interface ObjectMirrorOptions {
  objects: KV;
  log: Logger;
  /** A change after the initial load. */
  onChange(): void;
  /** The watch has caught up with the bucket: the index holds every object. */
  onLoaded(): void;
}

export class ObjectMirror {
  readonly index = new ObjectIndex();
  #loaded = false;
  #pending = 0;
  #watch: Watch | undefined;

  /** True once the initial load is done. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** wm-objects changes delivered to the watch but not yet applied (NATS lag), as last seen. */
  get pending(): number {
    return this.#pending;
  }

  start(o: ObjectMirrorOptions): void {
    this.#watch = watchBucket(
      o.objects,
      ">",
      {
        onEntry: (e) => {
          this.#pending = e.delta ?? 0;
          let changed = true;
          try {
            changed = this.index.apply(e) !== "none";
          } catch (err) {
            if (!(err instanceof MalformedEntryError)) throw err;
            o.log.warn("skipping malformed wm-objects entry", { key: e.key, revision: e.revision, err });
          }
          // Until the watch has caught up, changes are part of the initial load: one build at ready.
          if (changed && this.#loaded) o.onChange();
        },
        onReady: () => {
          this.#loaded = true;
          // The initial load is not a change: do not attach the first build to old changes' traces.
          this.index.takeTraces();
          o.log.info("wm-objects loaded", { objects: this.index.size });
          o.onLoaded();
        },
      },
      o.log,
    );
  }

  stop(): void {
    this.#watch?.stop();
  }
}
