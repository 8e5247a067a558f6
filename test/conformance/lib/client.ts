// The mesh client of the suite (Istio's echo `client` run in the `echo` pod), played from this
// machine: a request to a Service name goes, as ztunnel would deliver it, to the waypoint through the
// ztunnel stand-in with the client pod's identity and the Service's VIP:port as original destination.
// A request to a pod IP goes straight to that pod (ztunnel does not send it to a Service waypoint).
import { request } from "node:http";
import { type ClusterModel, GRPC_CONTAINER_PORT, HTTP_CONTAINER_PORT } from "./cluster.ts";

/** What the suite's mesh comparison reads from a response. */
export interface MeshResponse {
  status: number;
  responseHeaders: Record<string, string[]>;
  /** What echo-basic saw: absent for non-echo responses (redirects, local replies). */
  echo?: {
    path: string;
    host: string;
    method: string;
    namespace: string;
    pod: string;
    headers: Record<string, string[]>;
  };
}

export interface Target {
  port: number;
  hostHeader: string;
}

/** Routes of one client: `<vip>:<port>` → the local port of its stand-in route. */
export type StandinPorts = ReadonlyMap<string, number>;

/**
 * Where a request to `host` (as the suite writes it: "echo", "echo-v1.ns", "10.244.0.11:8080") from a
 * pod in `clientNamespace` goes.
 */
export function resolveTarget(
  host: string,
  clientNamespace: string,
  cluster: ClusterModel,
  standin: StandinPorts,
): Target {
  const m = /^(.*?)(?::(\d+))?$/.exec(host);
  const name = m?.[1] ?? host;
  const port = m?.[2] ? Number(m[2]) : 80;
  const pod = cluster.pods.find((p) => p.ip === name);
  if (pod) {
    if (port === HTTP_CONTAINER_PORT) return { port: pod.httpPort, hostHeader: host };
    if (port === GRPC_CONTAINER_PORT) return { port: pod.grpcPort, hostHeader: host };
    throw new Error(`pod ${pod.name} serves only ports ${HTTP_CONTAINER_PORT} and ${GRPC_CONTAINER_PORT}`);
  }
  const parts = name.split(".");
  const svcName = parts[0] ?? "";
  const ns = parts.length > 1 ? (parts[1] ?? "") : clientNamespace;
  const rest = parts.slice(2).join(".");
  if (rest !== "" && rest !== "svc" && rest !== "svc.cluster.local")
    throw new Error(`cannot resolve ${host}`);
  const svc = cluster.services.find((s) => s.name === svcName && s.namespace === ns);
  if (!svc) throw new Error(`no Service ${ns}/${svcName} for ${host}`);
  const local = standin.get(`${svc.vip}:${port}`);
  if (local === undefined) throw new Error(`no stand-in route to ${svc.vip}:${port}`);
  return { port: local, hostHeader: host };
}

export function send(
  target: Target,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<MeshResponse> {
  // The Host header comes from the URL unless the case overrides it (MeshFrontendHostname).
  const h: Record<string, string> = { host: target.hostHeader };
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase() === "host" ? "host" : k] = v;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: target.port, method, path: path || "/", headers: h, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const responseHeaders: Record<string, string[]> = {};
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            const k = (res.rawHeaders[i] ?? "").toLowerCase();
            const list = responseHeaders[k] ?? [];
            list.push(res.rawHeaders[i + 1] ?? "");
            responseHeaders[k] = list;
          }
          const out: MeshResponse = { status: res.statusCode ?? 0, responseHeaders };
          const body = Buffer.concat(chunks).toString("utf8");
          if ((res.headers["content-type"] ?? "").includes("application/json")) {
            try {
              const j = JSON.parse(body) as Record<string, unknown>;
              if (typeof j["pod"] === "string") {
                out.echo = {
                  path: String(j["path"] ?? ""),
                  host: String(j["host"] ?? ""),
                  method: String(j["method"] ?? ""),
                  namespace: String(j["namespace"] ?? ""),
                  pod: String(j["pod"]),
                  headers: (j["headers"] ?? {}) as Record<string, string[]>,
                };
              }
            } catch {
              // not an echo response
            }
          }
          resolve(out);
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}
