// The stand-in between a real TCP client and a real TCP server that reads the PROXY v2 header.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger } from "@waymark/api";
import { type Standin, startStandin } from "./index.ts";

interface Parsed {
  version: number;
  command: number;
  family: number;
  protocol: number;
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
  tlvs: Map<number, Buffer>;
}

const SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** Parses a PROXY v2 header at the start of buf: the header and its length, or undefined if incomplete. */
function parseProxyV2(buf: Buffer): { header: Parsed; length: number } | undefined {
  if (buf.length < 16) return undefined;
  assert.deepEqual(buf.subarray(0, 12), SIGNATURE, "signature");
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return undefined;
  const family = buf[13]! >> 4;
  const addrLen = family === 1 ? 4 : 16;
  const ip = (b: Buffer) =>
    family === 1
      ? [...b].join(".")
      : Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(":");
  let p = 16;
  const source = ip(buf.subarray(p, p + addrLen));
  const destination = ip(buf.subarray(p + addrLen, p + 2 * addrLen));
  p += 2 * addrLen;
  const sourcePort = buf.readUInt16BE(p);
  const destinationPort = buf.readUInt16BE(p + 2);
  p += 4;
  const tlvs = new Map<number, Buffer>();
  while (p < 16 + len) {
    const type = buf[p]!;
    const l = buf.readUInt16BE(p + 1);
    tlvs.set(type, buf.subarray(p + 3, p + 3 + l));
    p += 3 + l;
  }
  assert.equal(p, 16 + len, "TLVs fill the header exactly");
  return {
    header: {
      version: buf[12]! >> 4,
      command: buf[12]! & 0xf,
      family,
      protocol: buf[13]! & 0xf,
      source,
      sourcePort,
      destination,
      destinationPort,
      tlvs,
    },
    length: 16 + len,
  };
}

// The "waypoint": reads the header, greets, echoes every byte, and on the client's end writes "bye"
// and ends its side.
const seen: Parsed[] = [];
const waypoint = createServer({ allowHalfOpen: true }, (s) => {
  let buf = Buffer.alloc(0);
  let parsed = false;
  s.on("data", (d: Buffer) => {
    if (parsed) {
      s.write(d);
      return;
    }
    buf = Buffer.concat([buf, d]);
    const r = parseProxyV2(buf);
    if (!r) return;
    parsed = true;
    seen.push(r.header);
    s.write("hello;");
    const rest = buf.subarray(r.length);
    if (rest.length > 0) s.write(rest);
  });
  s.on("end", () => s.end("bye"));
});

let standin: Standin;
const identity = "spiffe://cluster.local/ns/httpbin/sa/client";

before(async () => {
  waypoint.listen(0, "127.0.0.1");
  await once(waypoint, "listening");
  const addr = waypoint.address();
  assert.ok(addr && typeof addr === "object");
  standin = await startStandin({
    waypoint: { host: "127.0.0.1", port: addr.port },
    routes: [
      { listen: { host: "127.0.0.1", port: 0 }, destination: { address: "10.96.0.12", port: 8000 } },
      { listen: { host: "127.0.0.1", port: 0 }, destination: { address: "fd00::12", port: 9000 } },
    ],
    identity,
    log: createLogger("test", {}, () => {}),
  });
});

after(async () => {
  await standin.stop();
  waypoint.close();
});

/** Connects, sends `data`, half-closes, and collects everything until the other side ends. */
async function exchange(
  port: number,
  data: Buffer,
): Promise<{ received: Buffer; client: Socket; localPort: number }> {
  const client = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  await once(client, "connect");
  const localPort = client.localPort ?? -1;
  const chunks: Buffer[] = [];
  client.on("data", (d: Buffer) => chunks.push(d));
  client.write(data);
  client.end();
  await once(client, "end");
  return { received: Buffer.concat(chunks), client, localPort };
}

test("the waypoint sees the destination VIP, the client's address and the identity; bytes round-trip", async () => {
  const payload = Buffer.alloc(256 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const { received, client, localPort } = await exchange(standin.ports[0]!, payload);
  const h = seen.at(-1);
  assert.ok(h);
  assert.deepEqual([h.version, h.command, h.family, h.protocol], [2, 1, 1, 1]);
  assert.equal(h.destination, "10.96.0.12");
  assert.equal(h.destinationPort, 8000);
  assert.equal(h.source, "127.0.0.1");
  assert.equal(h.sourcePort, localPort);
  assert.equal(h.tlvs.get(0xd0)?.toString("utf8"), identity);
  assert.equal(received.subarray(0, 6).toString(), "hello;");
  assert.ok(received.subarray(6, 6 + payload.length).equals(payload), "echoed payload intact");
  assert.equal(
    received.subarray(6 + payload.length).toString(),
    "bye",
    "server wrote after the client's half-close",
  );
  client.destroy();
});

test("an IPv6 destination gives an AF_INET6 header with the client mapped", async () => {
  const { received, client } = await exchange(standin.ports[1]!, Buffer.from("x"));
  const h = seen.at(-1);
  assert.ok(h);
  assert.equal(h.family, 2);
  assert.equal(h.destination, "fd00:0:0:0:0:0:0:12");
  assert.equal(h.destinationPort, 9000);
  assert.equal(h.source, "0:0:0:0:0:ffff:7f00:1");
  assert.equal(received.toString(), "hello;xbye");
  client.destroy();
});

test("concurrent connections are independent", async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => exchange(standin.ports[0]!, Buffer.from(`conn-${i}`))),
  );
  results.forEach(({ received, client }, i) => {
    assert.equal(received.toString(), `hello;conn-${i}bye`);
    client.destroy();
  });
});

test("a waypoint that is down closes the client connection", async () => {
  const dead = await startStandin({
    waypoint: { host: "127.0.0.1", port: 1 },
    routes: [{ listen: { host: "127.0.0.1", port: 0 }, destination: { address: "10.0.0.1", port: 80 } }],
    identity,
    log: createLogger("test", {}, () => {}),
  });
  try {
    const client = connect({ host: "127.0.0.1", port: dead.ports[0]! });
    client.on("error", () => {});
    await once(client, "close");
  } finally {
    await dead.stop();
  }
});
