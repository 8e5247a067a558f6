// What this package costs in resident memory in a service that does not trace: serving the ops
// endpoint must not load Node's fetch/WebSocket implementation (undici, with http2 behind it), and
// carrying no trace context must not load @opentelemetry/core. An ESM import of node:http loads
// undici (its namespace reads the lazy WebSocket export); see the comments in http.ts and tracing.ts
// for what each cost. Each case runs in a child process that loads this package as a service does.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const entry = join(import.meta.dirname, "index.ts");

/** Runs an ES module in a child node; returns the JSON of its last line. */
async function child(source: string): Promise<unknown> {
  const { stdout } = await run(
    process.execPath,
    ["--disable-warning=ExperimentalWarning", "--input-type=module", "-e", source],
    { cwd: import.meta.dirname },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

test("the ops endpoint does not load undici or http2", async () => {
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
  const out = (await child(source)) as { status: number; loaded: string[] };
  assert.equal(out.status, 200, "the endpoint answered");
  assert.deepEqual(out.loaded, [], "no undici or http2 in a process that only serves the ops endpoint");
});

test("with tracing off, spans and trace context across NATS do not load @opentelemetry/core", async () => {
  const source = `
    const { registerHooks } = process.getBuiltinModule("node:module");
    const loaded = new Set();
    registerHooks({
      resolve(specifier, context, next) {
        const r = next(specifier, context);
        if (r.url.includes("@opentelemetry/core")) loaded.add(specifier);
        return r;
      },
    });
    const { createLogger } = await import("@waymark/api");
    const t = await import(${JSON.stringify(entry)});
    const tracing = t.startTracing(t.loadTelemetryConfig("footprint", {}), createLogger("footprint", {}, () => {}));
    const span = t.startSpan("publish", { parent: null });
    const carried = t.traceContextOf(span);
    const headers = new Map();
    const h = { get: (k) => headers.get(k) ?? "", set: (k, v) => headers.set(k, v), keys: () => [...headers.keys()] };
    t.injectHeaders(span, h);
    t.extractHeaders(h);
    t.contextFromTrace(undefined);
    t.endSpan(span);
    const before = [...loaded];
    // A message that does carry a trace context is read (this loads the propagator).
    const ctx = t.extractHeaders({ get: (k) => (k === "traceparent" ? ${JSON.stringify(TP)} : ""), set() {}, keys: () => ["traceparent"] });
    const read = t.traceContextOf(ctx)?.traceparent;
    await tracing.shutdown();
    console.log(JSON.stringify({ enabled: tracing.enabled, carried: carried ?? null, headers: headers.size, before, read, after: loaded.size }));
  `;
  const out = (await child(source)) as {
    enabled: boolean;
    carried: unknown;
    headers: number;
    before: string[];
    read: string;
    after: number;
  };
  assert.equal(out.enabled, false, "tracing is off without an endpoint");
  assert.equal(out.carried, null, "an unsampled span carries no trace context");
  assert.equal(out.headers, 0, "nor writes headers");
  assert.deepEqual(out.before, [], "@opentelemetry/core is not loaded while there is no trace context");
  assert.equal(out.read, TP, "a carried trace context is still read");
  assert.ok(out.after > 0, "and reading it loads the propagator");
});
