import assert from "node:assert/strict";
import { test } from "node:test";
import { TranslatorMetrics } from "./metrics.ts";
import type { BuildReport } from "./service/translator.ts";
import type { TranslationMemo } from "./translate/index.ts";

const line = (text: string, re: RegExp) => text.split("\n").find((l) => re.test(l));

test("translations are counted by path, builds by result, and the lag gauge reads its source", async () => {
  const m = new TranslatorMetrics();
  // A memo stand-in: the translation says it went incremental by raising memo.incremental.
  const memo = { incremental: 0 } as unknown as TranslationMemo & { incremental: number };
  const output = { waypoints: [], statuses: [] } as never;
  const t = m.countedTranslate(memo, (_input, _settings, mm) => {
    (mm as { incremental: number }).incremental += step;
    return output;
  });
  let step = 0;
  t({ objects: new Map() }, {} as never);
  step = 1;
  t({ objects: new Map() }, {} as never);
  t({ objects: new Map() }, {} as never);
  const report = (ok: boolean, written: number): BuildReport =>
    ({
      seq: 1,
      ok,
      revision: 1,
      objects: 0,
      waypoints: 0,
      failed: [],
      durationMs: 12,
      published: { manifestsWritten: Array(written).fill("m") },
    }) as never;
  m.observeBuild(report(true, 2));
  m.observeBuild(report(false, 0));
  m.countPending(() => 7);
  const text = await m.registry.metrics();
  assert.match(line(text, /^waymark_translator_translations_total\{.*path="full"/) ?? "", / 1$/);
  assert.match(line(text, /^waymark_translator_translations_total\{.*path="incremental"/) ?? "", / 2$/);
  assert.match(line(text, /^waymark_translator_manifests_written_total/) ?? "", / 2$/);
  assert.match(line(text, /^waymark_translator_build_duration_seconds_count\{.*result="ok"/) ?? "", / 1$/);
  assert.match(
    line(text, /^waymark_translator_build_duration_seconds_count\{.*result="failed"/) ?? "",
    / 1$/,
  );
  assert.match(line(text, /^waymark_translator_objects_watch_pending/) ?? "", / 7$/);
});
