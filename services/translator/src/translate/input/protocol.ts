// Which service ports a waypoint treats as HTTP (kgateway's ServicePort.IsHTTP): take appProtocol,
// else the port name, else the protocol; keep the part before the first "-"; HTTP iff that is http,
// http2, http_proxy or grpc (compared case-insensitively, as Istio parses protocols), or the
// appProtocol kubernetes.io/h2c (HTTP/2 over cleartext, KEP-3726). Everything else is proxied as plain
// TCP. The HTTP/2 ones (http2, grpc, kubernetes.io/h2c) are the ports a GRPCRoute can attach to.
import type { ServicePort } from "@waymark/api";

const HTTP_KEYWORDS = new Set(["http", "http2", "http_proxy", "grpc", "kubernetes.io/h2c"]);
const HTTP2_KEYWORDS = new Set(["http2", "grpc", "kubernetes.io/h2c"]);

/** The protocol keyword of a port: lower-cased, before the first "-". */
export function protocolKeyword(port: Pick<ServicePort, "appProtocol" | "name" | "protocol">): string {
  const source = port.appProtocol || port.name || port.protocol || "";
  const dash = source.indexOf("-");
  return (dash < 0 ? source : source.slice(0, dash)).toLowerCase();
}

export function isHttpPort(port: Pick<ServicePort, "appProtocol" | "name" | "protocol">): boolean {
  return HTTP_KEYWORDS.has(protocolKeyword(port));
}

/**
 * HTTP ports whose upstream speaks HTTP/2 (http2, grpc, kubernetes.io/h2c): their clusters get HTTP/2
 * options, and GRPCRoutes apply to them.
 */
export function isHttp2Port(port: Pick<ServicePort, "appProtocol" | "name" | "protocol">): boolean {
  return HTTP2_KEYWORDS.has(protocolKeyword(port));
}

/**
 * Ports a waypoint can carry at all: TCP (the default). UDP and SCTP ports never reach a waypoint
 * (ztunnel only redirects TCP), so they get no filter chain.
 */
export function isTcpTransport(port: Pick<ServicePort, "protocol">): boolean {
  return port.protocol === undefined || port.protocol === "" || port.protocol.toUpperCase() === "TCP";
}

const TLS_KEYWORDS = new Set(["tls", "https"]);

/**
 * Ports that carry TLS the waypoint passes through (Istio's TLS and HTTPS protocols: `tls-*`,
 * `https-*`, appProtocol tls / https): a TLSRoute may attach there and match on the SNI.
 */
export function isTlsPort(port: Pick<ServicePort, "appProtocol" | "name" | "protocol">): boolean {
  return TLS_KEYWORDS.has(protocolKeyword(port));
}
