// The guide's header-control example as a running system for tests and benchmarks: a copy of
// examples/standalone whose EndpointSlices point at two local go-httpbins, and the whole stack
// (NATS, the three services, Envoy, the ztunnel stand-in) on free ports.
import { type Stack, type StackOptions, startStack } from "@waymark/devstack";
import { freePort, tempDir } from "@waymark/testing";
import { copyExample } from "./example.ts";
import { type HttpResult, httpRequest, type RequestOptions } from "./http.ts";

export const GUIDE_WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };
const VIPS = { httpbin2: "10.96.0.12", httpbin3: "10.96.0.13" } as const;
export type GuideService = keyof typeof VIPS;

/** A loopback address of its own (127.0.x.y), so stacks never share the waypoint's port. */
export function randomLoopback(): string {
  return `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
}

export interface GuideStack {
  stack: Stack;
  /** The watched directory (a copy of examples/standalone). */
  dir: string;
  logDir: string;
  /** Local port of the ztunnel stand-in for a service. */
  standinPort(svc: GuideService): number;
  /** A request to `<svc>:8000` through the stand-in and the waypoint, as curl --connect-to sends it. */
  request(svc: GuideService, path: string, opts?: RequestOptions): Promise<HttpResult>;
  stop(): Promise<void>;
}

export async function startGuideStack(
  name: string,
  extra: Partial<Omit<StackOptions, "sourceDir" | "logDir" | "backends" | "standin">> = {},
): Promise<GuideStack> {
  const backend = { httpbin2: await freePort(), httpbin3: await freePort() };
  const standin = { httpbin2: await freePort(), httpbin3: await freePort() };
  const dir = copyExample(backend);
  const logDir = tempDir(name);
  const stack = await startStack({
    sourceDir: dir,
    logDir,
    waypoint: GUIDE_WAYPOINT,
    waypointPort: 15088,
    bindAddress: randomLoopback(),
    backends: [
      { name: "httpbin2", port: backend.httpbin2 },
      { name: "httpbin3", port: backend.httpbin3 },
    ],
    standin: {
      identity: "spiffe://cluster.local/ns/httpbin/sa/client",
      routes: [
        { listenPort: standin.httpbin2, vip: VIPS.httpbin2, port: 8000 },
        { listenPort: standin.httpbin3, vip: VIPS.httpbin3, port: 8000 },
      ],
    },
    ...extra,
  });
  return {
    stack,
    dir,
    logDir,
    standinPort: (svc) => standin[svc],
    request: (svc, path, opts) => httpRequest(standin[svc], `${svc}:8000`, path, opts),
    stop: () => stack.stop(),
  };
}
