// Requests to the waypoint as ztunnel would send them, but with a PROXY v2 header of the test's
// choosing: any source address, any (or no) peer identity, any service VIP and port. The ztunnel
// stand-in always sends its one identity and the client's real address; the authorization tests
// need others (notPrincipals, ipBlocks, a request without identity, a TCP port).
// Every request opens a fresh connection, so no verdict ever comes from a pooled connection that an
// older listener configuration still serves.
import { connect, type Socket } from "node:net";
import { encodeProxyV2, TLV_PEER_IDENTITY } from "@waymark/ztunnel-standin";
import { type HttpResult, sendHttp } from "./http.ts";

export const CLIENT_IDENTITY = "spiffe://cluster.local/ns/httpbin/sa/client";

export interface Waypoint {
  /** The waypoint listener's address and port (StackOptions.bindAddress, waypointPort). */
  host: string;
  port: number;
}

export interface ProxiedRequest {
  /** The original destination ztunnel puts in the header: a service VIP and port. */
  vip: string;
  port: number;
  /** The PROXY source address (default 127.0.0.1) and port. */
  source?: string;
  sourcePort?: number;
  /** TLV 0xD0; `null` sends no TLV at all (a connection without peer identity). */
  identity?: string | null;
  host?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string;
}

function proxied(w: Waypoint, r: ProxiedRequest): Socket {
  const identity = r.identity === undefined ? CLIENT_IDENTITY : r.identity;
  const header = encodeProxyV2({
    source: {
      address: r.source ?? "127.0.0.1",
      port: r.sourcePort ?? 40_000 + Math.floor(Math.random() * 20_000),
    },
    destination: { address: r.vip, port: r.port },
    tlvs: identity === null ? [] : [{ type: TLV_PEER_IDENTITY, value: identity }],
  });
  const s = connect(w.port, w.host);
  s.write(header);
  return s;
}

/** One HTTP/1.1 request behind a PROXY v2 header, on its own connection. */
export function proxiedRequest(w: Waypoint, r: ProxiedRequest): Promise<HttpResult> {
  return sendHttp(
    { createConnection: () => proxied(w, r), path: r.path ?? "/get" },
    r.host ?? `${r.vip}:${r.port}`,
    { ...r, extraHeaders: { connection: "close" } },
  );
}

export type TcpVerdict = { open: true; firstLine: string } | { open: false };

/**
 * A TCP connection to a non-HTTP chain: sends an HTTP/1.1 request as plain bytes (the network RBAC
 * filter decides on the first bytes) and reports whether the upstream answered or the waypoint closed
 * the connection without a byte.
 */
export function tcpProbe(w: Waypoint, r: ProxiedRequest): Promise<TcpVerdict> {
  return new Promise<TcpVerdict>((resolve, reject) => {
    const s = proxied(w, r);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("TCP probe: neither an answer nor a close within 5 s"));
    }, 5000);
    s.write(`GET ${r.path ?? "/get"} HTTP/1.1\r\nhost: ${r.host ?? "tcp"}\r\nconnection: close\r\n\r\n`);
    s.on("data", (c: Buffer) => {
      got = Buffer.concat([got, c]);
    });
    const done = () => {
      clearTimeout(timer);
      const text = got.toString("utf8");
      resolve(text.length > 0 ? { open: true, firstLine: text.split("\r\n")[0] ?? "" } : { open: false });
    };
    s.on("close", done);
    // A reset from the waypoint is a close too.
    s.on("error", () => {});
  });
}

const RBAC_DENIED = "RBAC: access denied";

/**
 * "allow" for httpbin's 2xx answer, "deny" for the RBAC filter's 403; anything else (another 403, a
 * 404, a 5xx) throws, so a test never reads a broken request as a verdict.
 */
export function verdict(r: HttpResult): "allow" | "deny" {
  if (r.status === 403 && r.body === RBAC_DENIED) return "deny";
  // A HEAD request gets the same answer without its body.
  if (r.status === 403 && r.body === "" && r.headers["content-length"] === String(RBAC_DENIED.length)) {
    return "deny";
  }
  if (r.status >= 200 && r.status < 300) return "allow";
  throw new Error(`neither an upstream answer nor RBAC's 403: ${r.status} ${r.body.slice(0, 200)}`);
}
