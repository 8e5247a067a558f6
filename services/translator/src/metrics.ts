// The translator's Prometheus metrics: build duration by result, translations by path (incremental
// or full), waypoint manifests written, and the wm-objects watch's lag.
import { Counter, createRegistry, Gauge, Histogram, type Registry } from "@waymark/telemetry";
import type { BuildReport, TranslateFn } from "./service/translator.ts";
import type { TranslationMemo } from "./translate/index.ts";

export class TranslatorMetrics {
  readonly registry: Registry;
  readonly buildDuration: Histogram<"result">;
  readonly translations: Counter<"path">;
  readonly manifestsWritten: Counter;
  readonly objectsWatchPending: Gauge;
  #pending: (() => number) | undefined;

  /** `registry`: the service's; a private one (without process metrics) when absent. */
  constructor(registry?: Registry) {
    this.registry = registry ?? createRegistry("translator", { processMetrics: false });
    const registers = [this.registry];
    this.buildDuration = new Histogram({
      name: "waymark_translator_build_duration_seconds",
      help: "One build: translate, encode, publish",
      labelNames: ["result"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.translations = new Counter({
      name: "waymark_translator_translations_total",
      help: "Translations, by path: incremental (only changed routes and endpoints redone) or full",
      labelNames: ["path"],
      registers,
    });
    this.manifestsWritten = new Counter({
      name: "waymark_translator_manifests_written_total",
      help: "Waypoint manifests written to wm-xds",
      registers,
    });
    const self = this;
    this.objectsWatchPending = new Gauge({
      name: "waymark_translator_objects_watch_pending",
      help: "wm-objects changes NATS has not yet delivered to the translator (lag)",
      registers,
      collect() {
        this.set(self.#pending?.() ?? 0);
      },
    });
  }

  /** Where the lag gauge reads its value when scraped (the running translator, if any). */
  countPending(source: () => number): void {
    this.#pending = source;
  }

  /** Records one finished build. */
  observeBuild(r: BuildReport): void {
    this.buildDuration.observe({ result: r.ok ? "ok" : "failed" }, r.durationMs / 1000);
    this.manifestsWritten.inc(r.published?.manifestsWritten.length ?? 0);
  }

  /** `translate` with `memo`, each call counted as incremental or full. */
  countedTranslate(
    memo: TranslationMemo,
    translate: (...a: [...Parameters<TranslateFn>, TranslationMemo]) => ReturnType<TranslateFn>,
  ): TranslateFn {
    return (input, settings) => {
      const before = memo.incremental;
      const output = translate(input, settings, memo);
      this.translations.inc({ path: memo.incremental > before ? "incremental" : "full" });
      return output;
    };
  }
}
