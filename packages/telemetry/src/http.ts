// The operational HTTP endpoint of a service: /metrics (Prometheus), /healthz (the process answers),
// /readyz (the service says it can do its job; 503 with the reason otherwise) and optional JSON debug
// routes (e.g. the xds-server's connected proxies).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@waymark/api";
import type { Registry } from "prom-client";
import type { ListenAddress } from "./config.ts";

// Not `import … from "node:http"`: the ESM namespace of node:http reads every export, its lazy
// WebSocket, CloseEvent and MessageEvent too, and so loads undici (with tls, http2 and zlib). That
// is 6.5 MiB of heap and 7 MiB of the Node binary's pages resident in every service, for an
// endpoint that needs only createServer (`pnpm bench memory`; an empty script: 8.9/37.0 MiB
// anon/file with getBuiltinModule, 15.4/44.3 with the import).
const { createServer } = process.getBuiltinModule("node:http");

export interface Readiness {
  ready: boolean;
  /** Why not (or what it is ready with). */
  reason?: string;
}

export interface OpsServerOptions {
  address: ListenAddress;
  registry: Registry;
  readiness: () => Readiness;
  /** Extra GET routes answering JSON, e.g. `/debug/proxies`. */
  routes?: Record<string, (url: URL) => unknown | Promise<unknown>>;
  log: Logger;
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

const json = (res: ServerResponse, status: number, v: unknown) =>
  send(res, status, "application/json", `${JSON.stringify(v, null, 2)}\n`);

export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "GET only" });
    switch (url.pathname) {
      case "/metrics":
        return send(res, 200, o.registry.contentType, await o.registry.metrics());
      case "/healthz":
        return json(res, 200, { status: "ok" });
      case "/readyz": {
        const r = o.readiness();
        return json(res, r.ready ? 200 : 503, { status: r.ready ? "ready" : "not ready", reason: r.reason });
      }
    }
    const route = o.routes?.[url.pathname];
    if (route) return json(res, 200, await route(url));
    const paths = ["/metrics", "/healthz", "/readyz", ...Object.keys(o.routes ?? {})];
    return json(res, 404, { error: `no such path; try ${paths.join(", ")}` });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log.warn("ops endpoint failed", { path: req.url, err });
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.address.port, o.address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info("ops endpoint listening", { address: o.address.host, port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
