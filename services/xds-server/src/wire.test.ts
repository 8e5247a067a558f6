import assert from "node:assert/strict";
import { test } from "node:test";
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema, fromBinary } from "@waymark/envoy-proto";
import {
  encodeAny,
  encodeDeltaBody,
  encodeDeltaResource,
  encodeDeltaResponse,
  encodeSotwBody,
  WireMessage,
  withSotwNonce,
} from "./wire.ts";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

test("SotW body plus appended nonce decodes as a DiscoveryResponse", () => {
  // Sizes straddle the one-, two- and three-byte varint lengths.
  const values = [bytes(0, 1), bytes(5, 2), bytes(127, 3), bytes(128, 4), bytes(20_000, 5)];
  const anys = values.map((v) => encodeAny("type.googleapis.com/x.Y", v));
  const body = encodeSotwBody("v1", "type.googleapis.com/x.Y", anys);
  const res = fromBinary(DiscoveryResponseSchema, withSotwNonce(body, "n-1"));
  assert.equal(res.versionInfo, "v1");
  assert.equal(res.typeUrl, "type.googleapis.com/x.Y");
  assert.equal(res.nonce, "n-1");
  assert.equal(res.resources.length, values.length);
  res.resources.forEach((a, i) => {
    assert.equal(a.typeUrl, "type.googleapis.com/x.Y");
    assert.deepEqual(Uint8Array.from(a.value), values[i]);
  });
});

test("delta response decodes with resources, versions and removed names", () => {
  const any = encodeAny("t/x", bytes(300, 9));
  const buf = encodeDeltaResponse({
    systemVersion: "sv",
    typeUrl: "t/x",
    resources: [encodeDeltaResource("a", "h1", any), encodeDeltaResource("b", "h2", any)],
    removed: ["gone", "ünïcode"],
    nonce: "n2",
  });
  const res = fromBinary(DeltaDiscoveryResponseSchema, buf);
  assert.equal(res.systemVersionInfo, "sv");
  assert.equal(res.typeUrl, "t/x");
  assert.equal(res.nonce, "n2");
  assert.deepEqual(
    res.resources.map((r) => [r.name, r.version, r.resource?.typeUrl]),
    [
      ["a", "h1", "t/x"],
      ["b", "h2", "t/x"],
    ],
  );
  assert.deepEqual(Uint8Array.from(res.resources[0]?.resource?.value ?? []), bytes(300, 9));
  assert.deepEqual(res.removedResources, ["gone", "ünïcode"]);
});

test("empty responses encode to valid messages", () => {
  const res = fromBinary(DiscoveryResponseSchema, withSotwNonce(encodeSotwBody("v", "t", []), "n"));
  assert.equal(res.resources.length, 0);
  const d = fromBinary(
    DeltaDiscoveryResponseSchema,
    encodeDeltaResponse({ systemVersion: "", typeUrl: "t", resources: [], removed: [], nonce: "n" }),
  );
  assert.equal(d.nonce, "n");
  assert.equal(d.systemVersionInfo, "");
});

test("a WireMessage is the shared body with its nonce field first, behind a gRPC frame header", () => {
  const body = encodeDeltaBody({
    systemVersion: "sv",
    typeUrl: "t/x",
    resources: [encodeDeltaResource("a", "h1", encodeAny("t/x", bytes(200, 3)))],
    removed: ["gone"],
  });
  // A 200-byte nonce takes a two-byte length varint.
  for (const nonce of ["n-1", "x".repeat(200), ""]) {
    const m = new WireMessage(body, nonce);
    const framed = m.framed();
    assert.equal(framed[0], 0, "not compressed");
    assert.equal(framed.readUInt32BE(1), framed.length - 5);
    assert.equal(m.byteLength, framed.length - 5);
    assert.deepEqual(framed.subarray(5), m.bytes());
    assert.deepEqual(framed.subarray(framed.length - body.length), Buffer.from(body), "body not rewritten");
    const res = fromBinary(DeltaDiscoveryResponseSchema, m.bytes());
    assert.equal(res.nonce, nonce);
    assert.equal(res.systemVersionInfo, "sv");
    assert.equal(res.typeUrl, "t/x");
    assert.deepEqual(
      res.resources.map((r) => r.name),
      ["a"],
    );
    assert.deepEqual(res.removedResources, ["gone"]);
  }
  const sotw = fromBinary(
    DiscoveryResponseSchema,
    new WireMessage(encodeSotwBody("v", "t", [encodeAny("t", bytes(3, 1))]), "n7").bytes(),
  );
  assert.equal(sotw.nonce, "n7");
  assert.equal(sotw.versionInfo, "v");
  assert.equal(sotw.resources.length, 1);
});
