// Plain HTTP/1.1 requests with a chosen Host header, the way curl sends them through the ztunnel
// stand-in (`curl --connect-to httpbin2:8000:127.0.0.1:PORT http://httpbin2:8000/get`).
import { type RequestOptions as NodeRequestOptions, request } from "node:http";

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export function httpRequest(port: number, host: string, path: string, opts: RequestOptions = {}) {
  return sendHttp({ host: "127.0.0.1", port, path }, host, opts);
}

/**
 * One request as curl sends it (its user-agent and accept headers, `opts.headers` over them), on the
 * connection `target` says (a host and port, or a createConnection), read whole.
 */
export function sendHttp(
  target: Pick<NodeRequestOptions, "host" | "port" | "path" | "createConnection">,
  host: string,
  opts: {
    method?: string;
    body?: string;
    headers?: Record<string, string | string[]>;
    /** Headers after curl's defaults and before `headers`. */
    extraHeaders?: Record<string, string>;
  } = {},
) {
  return new Promise<HttpResult>((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = request(
      {
        ...target,
        method: opts.method ?? "GET",
        headers: {
          host,
          "user-agent": "curl/8.7.1",
          accept: "*/*",
          ...opts.extraHeaders,
          ...(body ? { "content-length": String(body.length) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

export function httpGet(port: number, host: string, path: string, headers: Record<string, string> = {}) {
  return httpRequest(port, host, path, { headers });
}

/** go-httpbin's /get and /headers echo request headers as `{"headers": {"Name": ["v", ...]}}`. */
export function echoedHeaders(r: HttpResult): Record<string, string[]> {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.body.slice(0, 300)}`);
  return (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;
}
