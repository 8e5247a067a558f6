// The watcher's Prometheus metrics: writes to wm-objects, full listings of the source, objects refused
// for their size, changes waiting to be written. Each is read from the publisher when scraped.
import { Counter, createRegistry, Gauge, type Registry } from "@waymark/telemetry";

/** What the metrics read, when scraped (the ObjectPublisher). */
export interface PublisherCounts {
  readonly writes: number;
  readonly relists: number;
  readonly refusedTooLarge: number;
  readonly tooLarge: number;
  readonly pending: number;
}

export class WatcherMetrics {
  readonly registry: Registry;
  #source: PublisherCounts | undefined;

  /** `registry`: the service's; a private one (without process metrics) when absent. */
  constructor(registry?: Registry) {
    this.registry = registry ?? createRegistry("watcher", { processMetrics: false });
    const registers = [this.registry];
    const read = (f: (c: PublisherCounts) => number) => (this.#source ? f(this.#source) : 0);
    // Totals kept by the publisher: a counter set to its value at each scrape.
    const total = (name: string, help: string, f: (c: PublisherCounts) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(f));
        },
      });
    total("waymark_watcher_writes_total", "Puts and deletes written to wm-objects", (c) => c.writes);
    total(
      "waymark_watcher_relists_total",
      "Full listings of the source (initial sync and relists)",
      (c) => c.relists,
    );
    total(
      "waymark_watcher_objects_refused_too_large_total",
      "Objects (or new versions of them) not published because they exceed the size limit",
      (c) => c.refusedTooLarge,
    );
    new Gauge({
      name: "waymark_watcher_objects_too_large",
      help: "Objects whose current version is not published because it exceeds the size limit",
      registers,
      collect() {
        this.set(read((c) => c.tooLarge));
      },
    });
    new Gauge({
      name: "waymark_watcher_pending_writes",
      help: "Changes waiting to be written to NATS",
      registers,
      collect() {
        this.set(read((c) => c.pending));
      },
    });
  }

  /** Where the metrics read their values when scraped. */
  readFrom(source: PublisherCounts): void {
    this.#source = source;
  }
}
