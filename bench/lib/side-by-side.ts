// What `pnpm bench envoy-gateway` gives both control planes alike: the same HTTPRoutes on a Gateway
// parent, each with a path match under go-httpbin's /anything and a request header it sets (the value
// a change edits; go-httpbin echoes it back), and how one process's CPU time and RSS are read.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { stringify } from "yaml";

export const NS = "bench";
/** The Gateway every route names as its parent: Waymark's waypoint, or Envoy Gateway's Gateway. */
export const GATEWAY = "gw";
export const HEADER = "x-bench-route";

type Obj = Record<string, unknown>;

/** `/anything/r<i>/`: go-httpbin answers anything under /anything with the request's headers. */
export const routePath = (i: number) => `/anything/r${i}/`;
export const headerValue = (i: number, tag: string) => `route-${i}-${tag}`;

/**
 * HTTPRoute `route-<i>` on the Gateway: one rule, its path prefix, a RequestHeaderModifier setting
 * HEADER, and `backendRef` (each control plane's own form of the one go-httpbin).
 */
export function sideRoute(i: number, tag: string, backendRef: Obj): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: `route-${i}`, namespace: NS },
    spec: {
      parentRefs: [{ name: GATEWAY }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: routePath(i) } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: HEADER, value: headerValue(i, tag) }] },
            },
          ],
          backendRefs: [backendRef],
        },
      ],
    },
  };
}

export const toYaml = (objs: Obj[]) => objs.map((o) => stringify(o)).join("---\n");

/** The routes file: every route with its current tag. */
export function routesYaml(tags: readonly string[], backendRef: Obj): string {
  return toYaml(tags.map((tag, i) => sideRoute(i, tag, backendRef)));
}

// The clock tick of /proc/<pid>/stat's times: USER_HZ, which the kernel fixes at 100 for user space on
// x86-64 and arm64 (what `getconf CLK_TCK` prints there).
const USER_HZ = 100;

/** utime + stime of a process (/proc/<pid>/stat fields 14 and 15), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces: field 3 first.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}

/** VmRSS of a process, in MiB. */
export function rssMiB(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(s)?.[1] ?? Number.NaN) / 1024;
}

export const sumOf = (pids: readonly number[], f: (pid: number) => number) =>
  pids.reduce((a, p) => a + f(p), 0);

/** The highest summed RSS of `pids`, read every `everyMs` until stop(). */
export function rssPeak(pids: readonly number[], everyMs = 100): { stop(): number } {
  let peak = sumOf(pids, rssMiB);
  const t = setInterval(() => {
    peak = Math.max(peak, sumOf(pids, rssMiB));
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, sumOf(pids, rssMiB));
    },
  };
}

/**
 * GETs of route paths on one keep-alive connection to a data plane (`port` on 127.0.0.1, with a Host
 * header); each answers HEADER's value as go-httpbin echoed it, or undefined when it was not echoed
 * (no such route yet: Envoy's 404).
 */
export function echoClient(port: number, host: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string) =>
    new Promise<string | undefined>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, agent, headers: { host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) return resolve(undefined);
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            headers?: Record<string, string[]>;
          };
          const entry = Object.entries(body.headers ?? {}).find(([k]) => k.toLowerCase() === HEADER);
          resolve(entry?.[1]?.[0]);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  return { get, close: () => agent.destroy() };
}
