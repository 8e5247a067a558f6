// What the ops endpoint costs in resident memory: serving it must not load Node's fetch/WebSocket
// implementation (undici, with http2 behind it). An ESM import of node:http does load it (its
// namespace reads the lazy WebSocket export), which cost every service about 13 MiB of RSS; see the
// comment in http.ts. The child process loads this package as a service does and serves /readyz.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

test("the ops endpoint does not load undici or http2", async () => {
  const entry = join(import.meta.dirname, "index.ts");
  // The child asks with getBuiltinModule too: its own `import … from "node:http"` would load undici.
  const source = `
    const { request } = process.getBuiltinModule("node:http");
    const { createLogger } = await import("@waymark/api");
    const { createRegistry, startOpsServer } = await import(${JSON.stringify(entry)});
    const ops = await startOpsServer({
      address: { host: "127.0.0.1", port: 0 },
      registry: createRegistry("footprint"),
      readiness: () => ({ ready: true }),
      log: createLogger("footprint", {}, () => {}),
    });
    const status = await new Promise((resolve, reject) =>
      request({ host: "127.0.0.1", port: ops.port, path: "/readyz" }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on("error", reject).end(),
    );
    await ops.close();
    const loaded = process.moduleLoadList.filter((m) =>
      /^NativeModule (internal\\/deps\\/undici\\/undici|http2)$/.test(m),
    );
    console.log(JSON.stringify({ status, loaded }));
  `;
  const { stdout } = await run(
    process.execPath,
    ["--disable-warning=ExperimentalWarning", "--input-type=module", "-e", source],
    { cwd: import.meta.dirname },
  );
  const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as { status: number; loaded: string[] };
  assert.equal(out.status, 200, "the endpoint answered");
  assert.deepEqual(out.loaded, [], "no undici or http2 in a process that only serves the ops endpoint");
});
