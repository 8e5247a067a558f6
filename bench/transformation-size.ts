// Size of the transformation's configuration (issue 19, defect 2): N HTTPRoutes on httpbin2, each
// with its own route-level TrafficPolicy transformation (a different template per route), are
// written into the guide stack's watched directory and reach a real Envoy through the whole
// pipeline. Once Envoy serves the last route's template (so the config is ACKed and in force), the
// figures are: the size of Envoy's dynamic route configurations and listeners (its /config_dump,
// JSON), and Envoy's /memory (allocated, heap_size) and resident size before any route, after the config, and after
// one request per route (the shared code compiles a route's program on its first request).
//   pnpm bench transformation-size [routes=1000]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { parseArgs } from "./lib/args.ts";

interface Memory {
  allocated: string;
  heap_size: string;
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function objectsYaml(routes: number): string {
  const docs: unknown[] = [];
  for (let i = 0; i < routes; i++) {
    docs.push(
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: `size-${i}`, namespace: "httpbin" },
        spec: {
          parentRefs: [{ group: "", kind: "Service", name: "httpbin2", port: 8000 }],
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: `/anything/size-${i}` } }],
              backendRefs: [{ name: "httpbin2", port: 8000 }],
            },
          ],
        },
      },
      {
        apiVersion: "gateway.kgateway.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name: `size-${i}`, namespace: "httpbin" },
        spec: {
          targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: `size-${i}` }],
          transformation: {
            request: { set: [{ name: "x-size-route", value: `size-${i}:{{ header("x-in") }}` }] },
          },
        },
      },
    );
  }
  return docs.map((d) => `${JSON.stringify(d)}\n`).join("---\n");
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { routes: 1000 });
  const guide = await startGuideStack("bench-transformation-size");
  try {
    const envoy = guide.stack.envoy;
    // /memory counts tcmalloc only; LuaJIT allocates its states with its own allocator, so the
    // process's resident size is read as well.
    const memory = async () => {
      const m = JSON.parse(await envoy.admin("/memory")) as Memory;
      const status = readFileSync(`/proc/${envoy.proc.child.pid}/status`, "utf8");
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
      return { allocated: Number(m.allocated), heap: Number(m.heap_size), rss: rssKb * 1024 };
    };
    const served = async (i: number) => {
      const r = await guide.request("httpbin2", `/anything/size-${i}`, { headers: { "x-in": "v" } });
      const h = (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;
      return h["X-Size-Route"]?.[0] === `size-${i}:v`;
    };
    await waitFor("the guide's routes", async () => (await guide.request("httpbin2", "/get")).status === 200);
    const before = await memory();
    const t0 = performance.now();
    writeFileSync(join(guide.dir, "60-size.yaml"), objectsYaml(a.routes));
    await waitFor("the last route's template in force", () => served(a.routes - 1), 300_000, 100);
    const applyMs = performance.now() - t0;
    const afterConfig = await memory();
    const dump = (resource: string) => envoy.admin(`/config_dump?resource=${resource}`);
    const rdsBytes = (await dump("dynamic_route_configs")).length;
    const ldsBytes = (await dump("dynamic_listeners")).length;
    for (let i = 0; i < a.routes; i++) {
      if (!(await served(i))) throw new Error(`route size-${i} does not run its template`);
    }
    const afterRequests = await memory();
    return {
      routes: a.routes,
      rds_config_dump_bytes: rdsBytes,
      lds_config_dump_bytes: ldsBytes,
      rds_bytes_per_route: Math.round(rdsBytes / a.routes),
      apply_ms: Math.round(applyMs),
      envoy_allocated_mib_before: mib(before.allocated),
      envoy_heap_mib_before: mib(before.heap),
      envoy_rss_mib_before: mib(before.rss),
      envoy_allocated_mib_after_config: mib(afterConfig.allocated),
      envoy_heap_mib_after_config: mib(afterConfig.heap),
      envoy_rss_mib_after_config: mib(afterConfig.rss),
      envoy_allocated_mib_after_requests: mib(afterRequests.allocated),
      envoy_heap_mib_after_requests: mib(afterRequests.heap),
      envoy_rss_mib_after_requests: mib(afterRequests.rss),
    };
  } finally {
    await guide.stop();
  }
}
