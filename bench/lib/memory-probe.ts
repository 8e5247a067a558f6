// Preloaded into the services by `pnpm bench memory` (node --import): on SIGUSR2 it writes the
// process's memory as V8 sees it to $WAYMARK_MEMORY_PROBE_DIR/<pid>.json, after a heap snapshot
// (<pid>-<n>.heapsnapshot beside it) when WAYMARK_MEMORY_PROBE_SNAPSHOT=1. Bench-only: the services
// know nothing of it.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getHeapCodeStatistics, getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";

const dir = process.env["WAYMARK_MEMORY_PROBE_DIR"];
let n = 0;
if (dir) {
  process.on("SIGUSR2", () => {
    const snapshot =
      process.env["WAYMARK_MEMORY_PROBE_SNAPSHOT"] === "1"
        ? writeHeapSnapshot(join(dir, `${process.pid}-${n++}.heapsnapshot`))
        : undefined;
    const out = {
      memoryUsage: process.memoryUsage(),
      heap: getHeapStatistics(),
      code: getHeapCodeStatistics(),
      spaces: Object.fromEntries(
        getHeapSpaceStatistics().map((s) => [
          s.space_name,
          `${(s.space_used_size / 2 ** 20).toFixed(1)} / ${(s.space_size / 2 ** 20).toFixed(1)} MiB`,
        ]),
      ),
      ...(snapshot ? { snapshot } : {}),
      // Node's own modules loaded (e.g. whether undici is: see packages/telemetry/src/http.ts).
      builtins: (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((m) =>
        m.startsWith("NativeModule "),
      ),
    };
    // Written whole, then renamed: the bench never reads half a file.
    writeFileSync(join(dir, `${process.pid}.json.tmp`), JSON.stringify(out));
    renameSync(join(dir, `${process.pid}.json.tmp`), join(dir, `${process.pid}.json`));
  });
}
