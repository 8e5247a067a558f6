// WireMessages written through a real grpc-js server and read by a real grpc-js client: the shared
// body and each stream's nonce arrive as one DeltaDiscoveryResponse, also when the body is larger than
// the client's HTTP/2 window (so it is split over DATA frames and waits for WINDOW_UPDATEs).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { adsService, type DeltaDiscoveryResponse } from "@waymark/envoy-proto";
import { adsWireService, zeroCopyWrites } from "./grpc-frames.ts";
import { encodeAny, encodeDeltaBody, encodeDeltaResource, WireMessage } from "./wire.ts";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const small = encodeDeltaBody({
  systemVersion: "v1",
  typeUrl: "t/x",
  resources: [encodeDeltaResource("a", "h1", encodeAny("t/x", bytes(300, 1)))],
  removed: ["gone"],
});
const big = encodeDeltaBody({
  systemVersion: "v2",
  typeUrl: "t/x",
  resources: [encodeDeltaResource("b", "h2", encodeAny("t/x", bytes(300_000, 2)))],
  removed: [],
});

let server: grpc.Server;
let port: number;

before(async () => {
  server = new grpc.Server();
  server.addService(adsWireService, {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      // Two streams' worth of the same body, then a large one: nonces differ, bodies are shared.
      call.write(new WireMessage(small, "s1-1"));
      call.write(new WireMessage(small, "nonce-of-another-length-2"));
      call.write(new WireMessage(big, "s1-3"));
      call.write(new WireMessage(small, ""));
      call.end();
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
});

after(() => server.forceShutdown());

test("the grpc-js patch applies (WireMessages are written without copying their body)", () => {
  assert.equal(zeroCopyWrites, true);
});

test("WireMessages arrive as whole responses with their own nonces", async () => {
  const Client = grpc.makeGenericClientConstructor(adsService, "ads");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client["DeltaAggregatedResources"]!() as grpc.ClientDuplexStream<
    unknown,
    DeltaDiscoveryResponse
  >;
  const got: DeltaDiscoveryResponse[] = [];
  await new Promise<void>((resolve, reject) => {
    call.on("data", (r: DeltaDiscoveryResponse) => got.push(r));
    call.on("error", reject);
    call.on("end", () => resolve());
  });
  client.close();
  assert.deepEqual(
    got.map((r) => [r.nonce, r.systemVersionInfo, r.resources.map((x) => x.name), r.removedResources]),
    [
      ["s1-1", "v1", ["a"], ["gone"]],
      ["nonce-of-another-length-2", "v1", ["a"], ["gone"]],
      ["s1-3", "v2", ["b"], []],
      ["", "v1", ["a"], ["gone"]],
    ],
  );
  assert.deepEqual(Uint8Array.from(got[2]!.resources[0]!.resource!.value), bytes(300_000, 2));
});
