import assert from "node:assert/strict";
import { test } from "node:test";
import { ProxyHeaderError } from "./errors.ts";
import { encodeProxyV2 } from "./proxy-v2.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const SIG = "0d0a0d0a 000d0a51 5549540a";

test("IPv4 with the identity TLV, byte by byte", () => {
  const got = encodeProxyV2({
    source: { address: "10.0.0.1", port: 51000 },
    destination: { address: "10.96.0.12", port: 8000 },
    tlvs: [{ type: 0xd0, value: "spiffe://a/b" }],
  });
  const want = hex(`${SIG}
    21 11 001b
    0a000001 0a60000c c738 1f40
    d0 000c 7370696666653a2f2f612f62`);
  assert.deepEqual(got, want);
});

test("IPv6, no TLVs", () => {
  const got = encodeProxyV2({
    source: { address: "2001:db8::1", port: 1 },
    destination: { address: "fd00::c", port: 80 },
  });
  const want = hex(`${SIG}
    21 21 0024
    20010db8 00000000 00000000 00000001
    fd000000 00000000 00000000 0000000c
    0001 0050`);
  assert.deepEqual(got, want);
});

test("an IPv4-mapped source with an IPv4 destination is IPv4; mixed families become IPv6", () => {
  const v4 = encodeProxyV2({
    source: { address: "::ffff:127.0.0.1", port: 2 },
    destination: { address: "10.96.0.12", port: 3 },
  });
  assert.deepEqual(v4.subarray(12), hex("21 11 000c 7f000001 0a60000c 0002 0003"));
  const mixed = encodeProxyV2({
    source: { address: "127.0.0.1", port: 2 },
    destination: { address: "fd00::1", port: 3 },
  });
  assert.deepEqual(
    mixed.subarray(12),
    hex("21 21 0024 00000000 00000000 0000ffff 7f000001 fd000000 00000000 00000000 00000001 0002 0003"),
  );
});

test("several TLVs, binary values, in order", () => {
  const got = encodeProxyV2({
    source: { address: "1.2.3.4", port: 0 },
    destination: { address: "5.6.7.8", port: 65535 },
    tlvs: [
      { type: 0x01, value: "h2" },
      { type: 0xd0, value: Buffer.from([0xff, 0x00]) },
      { type: 0x04, value: "" },
    ],
  });
  assert.deepEqual(
    got.subarray(12),
    hex("21 11 0019 01020304 05060708 0000 ffff 01 0002 6832 d0 0002 ff00 04 0000"),
  );
});

test("bad values are ProxyHeaderErrors", () => {
  const ok = { address: "1.2.3.4", port: 1 };
  assert.throws(
    () => encodeProxyV2({ source: { address: "host", port: 1 }, destination: ok }),
    ProxyHeaderError,
  );
  assert.throws(
    () => encodeProxyV2({ source: ok, destination: { address: "1.2.3.4", port: 70000 } }),
    ProxyHeaderError,
  );
  assert.throws(
    () => encodeProxyV2({ source: ok, destination: ok, tlvs: [{ type: 256, value: "" }] }),
    ProxyHeaderError,
  );
  assert.throws(
    () => encodeProxyV2({ source: ok, destination: ok, tlvs: [{ type: 1, value: Buffer.alloc(70000) }] }),
    ProxyHeaderError,
  );
});
