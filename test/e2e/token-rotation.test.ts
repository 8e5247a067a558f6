// A waypoint Envoy keeps sending a valid token after the kubelet rotates its projected
// service-account token. The kubelet writes the new token into a new timestamped directory and
// swaps the `..data` link to it; the bootstrap Waymark renders must make Envoy read the token again
// then. A bare ADS server here records the authorization header of every stream Envoy opens and
// ends each stream, so Envoy keeps reconnecting and each new stream shows the token it holds.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { adsService } from "@waymark/envoy-proto";
import { startEnvoy, tempDir, waitFor } from "@waymark/testing";
import { renderBootstrap, renderTokenSds } from "@waymark/waypoint";
import { kubeletTokenDir } from "../lib/token-dir.ts";

const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const s of stops) await s().catch(() => {});
});

test("Envoy sends the rotated token on its next xDS stream", { timeout: 60_000 }, async () => {
  const seen: string[] = [];
  const server = new grpc.Server();
  const record = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    seen.push(String(call.metadata.get("authorization")[0] ?? ""));
    // End the stream at once: Envoy opens a new one after its retry back-off.
    setTimeout(() => call.emit("error", { code: grpc.status.UNAVAILABLE, details: "bye" }), 200);
  };
  server.addService(adsService as unknown as grpc.ServiceDefinition, {
    StreamAggregatedResources: record,
    DeltaAggregatedResources: record,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  stops.push(() => new Promise((r) => server.tryShutdown(() => r())));

  const logDir = tempDir("token-rotation");
  const tokenDir = join(logDir, "xds-tokens");
  const rotate = kubeletTokenDir(tokenDir, "token-one");
  const sdsFile = join(logDir, "xds-token-sds.json");
  writeFileSync(sdsFile, JSON.stringify(renderTokenSds(join(tokenDir, "token"))));
  const envoy = await startEnvoy({
    name: "envoy-rotation",
    logDir,
    bootstrap: renderBootstrap({
      waypoint: { namespace: "httpbin", name: "kgateway-waypoint" },
      podName: "wp-0",
      xds: [{ host: "127.0.0.1", port }],
      xdsToken: { file: join(tokenDir, "token"), sdsFile },
    }),
  });
  stops.unshift(() => envoy.stop());

  await waitFor("a stream with the first token", () => seen.includes("Bearer token-one"), 20_000, 50);
  rotate("token-two");
  const rotatedAt = seen.length;
  await waitFor(
    "a stream with the rotated token",
    () => seen.slice(rotatedAt).includes("Bearer token-two"),
    30_000,
    50,
  );
  // After the swap, no stream carries the old token again.
  const firstNew = seen.indexOf("Bearer token-two");
  assert.ok(
    !seen.slice(firstNew).includes("Bearer token-one"),
    `streams after rotation: ${seen.slice(firstNew)}`,
  );
});
