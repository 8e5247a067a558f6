// Where objects come from. A source reads the outside world (a directory of YAML now, the Kubernetes
// API later) and tells a sink what it sees; the sink (the publisher) owns the NATS side.
import type { KubeObject, ObjectRef } from "@waymark/api";
import type { ProblemReason } from "./parse.ts";

export interface SourceProblem {
  /** ObjectTooLarge: reported by the publisher, for an object over the size limit. */
  reason: ProblemReason | "ObjectTooLarge";
  /** `<file>:<line>:<col>: <what>` */
  message: string;
}

export interface ReplaceOptions {
  /**
   * Objects not in the new list are deleted, except those whose current origin this returns true
   * for (a source that cannot read part of its input keeps what it published from it before).
   */
  keep?: (origin: string) => boolean;
}

export interface SourceSink {
  /** A full (re)list: afterwards the bucket holds exactly these objects (plus any `keep`s). */
  replaceAll(objects: ReadonlyArray<{ object: KubeObject; origin: string }>, opts?: ReplaceOptions): void;
  /** One object added or changed; `origin` says where it came from (`file:<path>#<doc>`, `kube`). */
  upsert(object: KubeObject, origin: string): void;
  /** One object gone. */
  remove(ref: ObjectRef): void;
  /**
   * Problems reading one part of the source (a file): replaces any earlier report for it. A source
   * reports the problems of a listing before that listing's replaceAll, which clears every report
   * left from before (e.g. from the previous run of the watcher).
   */
  reportSourceProblem(name: string, problems: readonly SourceProblem[]): void;
  /** That part of the source is fine again. */
  clearSourceProblem(name: string): void;
}

export interface Source {
  /** For logs, e.g. `dir:/etc/waymark`. */
  readonly description: string;
  /** True when objects lack server-set metadata (creationTimestamp, generation, uid) the sink must stamp. */
  readonly needsMetadata: boolean;
  /** Reads everything once (one replaceAll), then keeps reporting changes until stop(). */
  start(sink: SourceSink): Promise<void>;
  stop(): Promise<void>;
}
