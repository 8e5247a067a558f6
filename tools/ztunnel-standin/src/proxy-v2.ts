// PROXY protocol version 2 header encoding (the binary form ztunnel sends to a waypoint). Pure.
// Layout: 12-byte signature, version/command byte, family/protocol byte, 2-byte length of what
// follows, the addresses (IPv4: src, dst, src port, dst port = 12 bytes; IPv6: 36 bytes), then TLVs
// (1-byte type, 2-byte length, value). All integers big-endian.
import { isIPv4, isIPv6 } from "node:net";
import { ProxyHeaderError } from "./errors.ts";

export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** TLV carrying the peer's SPIFFE identity, as Istio's ztunnel sets it. */
export const TLV_PEER_IDENTITY = 0xd0;

const VERSION_2_PROXY = 0x21; // version 2 << 4 | command PROXY (1)
const INET_STREAM = 0x11; // AF_INET << 4 | STREAM
const INET6_STREAM = 0x21; // AF_INET6 << 4 | STREAM

export interface Endpoint {
  address: string;
  port: number;
}

export interface Tlv {
  type: number;
  value: Buffer | string;
}

export interface ProxyV2Header {
  source: Endpoint;
  destination: Endpoint;
  tlvs?: readonly Tlv[];
}

const V4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  return V4_MAPPED.exec(address)?.[1] ?? address;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

function ipv6Bytes(address: string): Buffer {
  let text = address.split("%")[0] ?? ""; // drop a zone id (fe80::1%eth0)
  const out = Buffer.alloc(16);
  // A trailing dotted IPv4 part (e.g. ::ffff:1.2.3.4) fills the last 4 bytes.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tailBytes = 0;
  if (dotted?.[1]) {
    ipv4Bytes(dotted[1]).copy(out, 12);
    text = text.slice(0, -dotted[1].length);
    if (text.endsWith(":") && !text.endsWith("::")) text = text.slice(0, -1);
    tailBytes = 4;
  }
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = groups(head ?? "");
  const t = tail === undefined ? [] : groups(tail);
  const room = (16 - tailBytes) / 2;
  const all = tail === undefined ? h : [...h, ...new Array<number>(room - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    out.writeUInt16BE(g, i * 2);
  });
  return out;
}

function checkEndpoint(what: string, e: Endpoint): void {
  if (!isIPv4(e.address) && !isIPv6(e.address)) {
    throw new ProxyHeaderError(`${what} address "${e.address}" is not an IP address`);
  }
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
    throw new ProxyHeaderError(`${what} port ${e.port} is not in 0..65535`);
  }
}

/**
 * Encodes a PROXY v2 header (command PROXY, stream). IPv4 when both addresses are IPv4 (an
 * IPv4-mapped IPv6 address counts as IPv4), IPv6 otherwise (IPv4 addresses then mapped).
 */
export function encodeProxyV2(h: ProxyV2Header): Buffer {
  checkEndpoint("source", h.source);
  checkEndpoint("destination", h.destination);
  const src = unmapIPv4(h.source.address);
  const dst = unmapIPv4(h.destination.address);
  const v4 = isIPv4(src) && isIPv4(dst);
  const toV6 = (a: string) => (isIPv4(a) ? ipv6Bytes(`::ffff:${a}`) : ipv6Bytes(a));
  const addrs = v4 ? Buffer.concat([ipv4Bytes(src), ipv4Bytes(dst)]) : Buffer.concat([toV6(src), toV6(dst)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(h.source.port, 0);
  ports.writeUInt16BE(h.destination.port, 2);
  const tlvs = (h.tlvs ?? []).map((t) => {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 0xff)
      throw new ProxyHeaderError(`TLV type ${t.type} is not a byte`);
    const value = typeof t.value === "string" ? Buffer.from(t.value, "utf8") : t.value;
    if (value.length > 0xffff)
      throw new ProxyHeaderError(`TLV 0x${t.type.toString(16)} value is longer than 65535 bytes`);
    const head = Buffer.alloc(3);
    head.writeUInt8(t.type, 0);
    head.writeUInt16BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  const rest = Buffer.concat([addrs, ports, ...tlvs]);
  if (rest.length > 0xffff) throw new ProxyHeaderError("header is longer than 65535 bytes");
  const fixed = Buffer.alloc(4);
  fixed.writeUInt8(VERSION_2_PROXY, 0);
  fixed.writeUInt8(v4 ? INET_STREAM : INET6_STREAM, 1);
  fixed.writeUInt16BE(rest.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, fixed, rest]);
}
