// Scenario: the services' JSON logger (@waymark/api createLogger) against pino, for the same
// structured lines (a child logger with the service's fields, a message, five fields, one in ten with
// an Error), written to /dev/null. Figures: lines per second and bytes per line of each.
//   pnpm bench logger lines=200000 rounds=5
// - ours: one JSON.stringify per line, written with writeSync (as process.stderr.write does to a
//   file; to a pipe it is asynchronous and buffered by Node).
// - pino, sync: pino configured to print our line shape (level as a label, ISO time, msg, service),
//   each line written with writeSync.
// - pino, buffered: the same, through pino.destination({ sync: false }), which batches writes in
//   4 KiB chunks (lines are lost on a crash unless flushed).
import { closeSync, openSync, writeSync } from "node:fs";
import { createLogger, type Logger } from "@waymark/api";
import pino from "pino";
import { parseArgs } from "./lib/args.ts";
import { r2 } from "./lib/targets.ts";
import { percentile } from "./stats.ts";

interface Sink {
  log: Logger;
  bytes(): number;
  flush(): Promise<void>;
}

/** Our logger with the child fields the services add. */
function ours(fd: number): Sink {
  let bytes = 0;
  const log = createLogger("watcher", {}, (line) => {
    bytes += Buffer.byteLength(line);
    writeSync(fd, line);
  }).child({ replica: "watcher-7d9c" });
  return { log, bytes: () => bytes, flush: async () => {} };
}

const PINO_OPTIONS: pino.LoggerOptions = {
  base: { service: "watcher" },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  // Our logger keeps name, message and code of an Error; pino's default adds the stack.
  serializers: {
    err: (e: Error & { code?: unknown }) => ({ name: e.name, message: e.message, code: e.code }),
  },
};

/** pino made to print the documented line shape, as a Logger (our call signature: msg, fields). */
function pinoSink(fd: number, buffered: boolean): Sink {
  let bytes = 0;
  const options = PINO_OPTIONS;
  const dest = buffered
    ? pino.destination({ dest: "/dev/null", sync: false, minLength: 4096 })
    : {
        write(line: string) {
          bytes += Buffer.byteLength(line);
          writeSync(fd, line);
        },
      };
  const p = pino(options, dest).child({ replica: "watcher-7d9c" });
  const as = (level: "debug" | "info" | "warn" | "error") => (msg: string, f?: Record<string, unknown>) =>
    f ? p[level](f, msg) : p[level](msg);
  const log: Logger = {
    debug: as("debug"),
    info: as("info"),
    warn: as("warn"),
    error: as("error"),
    child: () => log,
  };
  return {
    log,
    bytes: () => bytes,
    flush: () =>
      new Promise<void>((resolve) => {
        if ("flush" in dest && typeof dest.flush === "function") dest.flush(() => resolve());
        else resolve();
      }),
  };
}

const err = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4222"), { code: "ECONNREFUSED" });

function lines(log: Logger, n: number): void {
  for (let i = 0; i < n; i++) {
    if (i % 10 === 9)
      log.warn("nats put failed; retrying", { key: `gateway_networking_k8s_io.HTTPRoute.ns.r${i}`, err });
    else
      log.info("published", {
        key: `gateway_networking_k8s_io.HTTPRoute.ns.r${i}`,
        revision: i,
        bytes: 1834,
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
      });
  }
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { lines: 200_000, rounds: 5 });
  const fd = openSync("/dev/null", "w");
  const out: Record<string, unknown> = {
    scenario: "logger: our JSON logger vs pino, same structured lines, to /dev/null",
    lines: a.lines,
    rounds: a.rounds,
  };
  const variants: Array<[string, () => Sink]> = [
    ["ours", () => ours(fd)],
    ["pino sync", () => pinoSink(fd, false)],
    ["pino buffered", () => pinoSink(fd, true)],
  ];
  // Warm-up: each variant once, so the JIT has seen all of them before any is timed.
  for (const [, make] of variants) {
    const s = make();
    lines(s.log, 20_000);
    await s.flush();
  }
  const rates = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  // Interleaved rounds, so a slow moment of the shared machine does not hit only one variant.
  for (let r = 0; r < a.rounds; r++) {
    for (const [name, make] of variants) {
      const s = make();
      const t0 = performance.now();
      lines(s.log, a.lines);
      await s.flush();
      const ms = performance.now() - t0;
      rates.get(name)?.push(a.lines / (ms / 1000));
      if (s.bytes() > 0) out[`${name}: bytes per line`] = r2(s.bytes() / a.lines);
    }
  }
  for (const [name, xs] of rates) {
    const sorted = [...xs].sort((x, y) => x - y);
    out[`${name}: lines/s (median)`] = Math.round(percentile(sorted, 50));
  }
  // One sample line of each, to compare the shapes.
  let ourLine = "";
  createLogger("watcher", {}, (l) => {
    ourLine = l;
  }).info("published", { key: "k", revision: 1 });
  let pinoLine = "";
  pino(PINO_OPTIONS, {
    write: (l: string) => {
      pinoLine = l;
    },
  }).info({ key: "k", revision: 1 }, "published");
  out["ours: line"] = ourLine.trim();
  out["pino: line"] = pinoLine.trim();
  closeSync(fd);
  return out;
}
