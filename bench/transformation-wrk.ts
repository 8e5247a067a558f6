// Added latency of the guide's transformation measured with wrk, a C load generator (Debian's
// package, scripts/bootstrap-wrk.sh), so the client's own cost stays small against the figure: the
// same GET /headers with x-base64-encoded to httpbin2 through the ztunnel stand-in and the waypoint
// Envoy, without the TrafficPolicy (the floor) and with it, in alternating rounds of `seconds` each.
// The stand-in is in both paths alike; the figure is the difference of wrk's p50 (and p99).
// `pnpm bench transformation-wrk [seconds=10] [connections=1] [rounds=5]`: one connection by default, so
// the figure is time spent per request rather than queueing on shared cores.
import { execFile as execFileCb } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@waymark/devstack";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { sendHttp } from "../test/lib/http.ts";

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

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const seconds = Number(args[0] ?? 10);
  const connections = Number(args[1] ?? 1);
  const rounds = Number(args[2] ?? 5);
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
  const load = async (secs: number) => {
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
    return r;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  try {
    const without: Array<ReturnType<typeof parseWrk>> = [];
    const withT: Array<ReturnType<typeof parseWrk>> = [];
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
    const p50 = (rs: typeof without) => median(rs.map((r) => r.p50_us));
    const p99 = (rs: typeof without) => median(rs.map((r) => r.p99_us));
    const added = Math.round((p50(withT) - p50(without)) * 10) / 10;
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
      added_p99_us: Math.round((p99(withT) - p99(without)) * 10) / 10,
      goal_added_p50_us: GOAL_ADDED_P50_US,
      goal_met: added <= GOAL_ADDED_P50_US,
      round_p50s_us: `without ${without.map((r) => r.p50_us).join(", ")}; with ${withT.map((r) => r.p50_us).join(", ")}`,
    };
  } finally {
    rmSync(policy, { force: true });
    await guide.stack.stop();
  }
}
