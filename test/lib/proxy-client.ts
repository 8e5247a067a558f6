// A client of the waypoint's PROXY listener that plays ztunnel itself, per connection: it opens a TCP
// connection to the waypoint, sends the PROXY v2 header the ztunnel stand-in would send (chosen source
// address and port, the service VIP and port as the destination, TLV 0xD0 with the peer's SPIFFE URI or
// no TLV), then an HTTP/1.1 request or raw bytes. It is the stand-in's wire format, driven per request,
// so that a test can choose the identity and the addresses of every request.
//
// The HTTP/1.1 request is written by hand rather than with node:http: node:http cannot write a
// PROXY header before the request on the same socket, and a test needs byte control over repeated
// headers and an empty header value.
import { connect } from "node:net";
import { encodeProxyV2, TLV_PEER_IDENTITY } from "@waymark/ztunnel-standin";

export interface WaypointAddress {
  host: string;
  port: number;
}

export interface ProxyHeaderFields {
  /** The client workload's address and port (the PROXY source). */
  source: { address: string; port?: number };
  /** The original destination: the service VIP and port. */
  destination: { address: string; port: number };
  /** The peer's identity, e.g. `spiffe://cluster.local/ns/foo/sa/sleep`; absent: no TLV 0xD0. */
  identity?: string;
}

export interface ProxiedHttpRequest extends ProxyHeaderFields {
  method: string;
  /** The request target as sent, query included. */
  path: string;
  /** The Host header. */
  host: string;
  /** In order; a name given twice is a header sent twice. */
  headers?: ReadonlyArray<readonly [string, string]>;
}

export interface ProxiedHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What came back on a proxied connection: an HTTP response, or the connection closed without one. */
export type ProxiedHttpResult =
  | ({ kind: "response" } & ProxiedHttpResponse)
  | { kind: "closed"; raw: string };

function proxyHeader(f: ProxyHeaderFields): Buffer {
  return encodeProxyV2({
    source: { address: f.source.address, port: f.source.port ?? 40_000 + Math.floor(Math.random() * 20_000) },
    destination: f.destination,
    tlvs: f.identity === undefined ? [] : [{ type: TLV_PEER_IDENTITY, value: f.identity }],
  });
}

/** Splits a raw HTTP/1.1 response (the connection was closed by `connection: close`). */
export function parseResponse(raw: Buffer): ProxiedHttpResponse | undefined {
  const text = raw.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), "latin1"));
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = dechunk(body);
  return { status: Number(m[1]), headers, body: body.toString("utf8") };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = Number.parseInt(b.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Sends `bytes` after the PROXY header and collects everything until the peer closes. */
function exchange(waypoint: WaypointAddress, header: Buffer, bytes: Buffer, timeoutMs: number) {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(waypoint.port, waypoint.host, () => {
      s.write(Buffer.concat([header, bytes]));
    });
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no close from the waypoint within ${timeoutMs} ms`)));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("close", () => resolve(Buffer.concat(chunks)));
    // A reset after (or instead of) the answer: what came before it is the answer.
    s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? undefined : reject(e)));
  });
}

/** One HTTP/1.1 request on its own proxied connection (`connection: close`). */
export async function proxiedHttp(
  waypoint: WaypointAddress,
  r: ProxiedHttpRequest,
  timeoutMs = 10_000,
): Promise<ProxiedHttpResult> {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `host: ${r.host}`];
  for (const [k, v] of r.headers ?? []) lines.push(`${k}: ${v}`);
  lines.push("content-length: 0", "connection: close", "", "");
  const raw = await exchange(waypoint, proxyHeader(r), Buffer.from(lines.join("\r\n"), "latin1"), timeoutMs);
  const res = parseResponse(raw);
  return res ? { kind: "response", ...res } : { kind: "closed", raw: raw.toString("latin1") };
}

/**
 * Raw bytes on their own proxied connection (a TCP chain): everything the waypoint sent back until the
 * connection closed. An echo backend that answers and closes gives the bytes back; a network RBAC
 * filter that denies closes the connection with nothing.
 */
export async function proxiedBytes(
  waypoint: WaypointAddress,
  f: ProxyHeaderFields,
  bytes: Buffer,
  timeoutMs = 10_000,
): Promise<Buffer> {
  return exchange(waypoint, proxyHeader(f), bytes, timeoutMs);
}
