// WebSocket through the waypoint, on a route whose TrafficPolicy transforms bodies (issue 19, defect 1):
// a real Envoy, the ztunnel stand-in, go-httpbin's /websocket/echo as the backend and the `ws` client.
// Messages go both ways (text and binary); the 101's headers are still transformed; a plain request
// on the same route still gets its body transformed.
// Fails without upgrade_configs on the HCM (Envoy answers the upgrade with 403) and without the Lua
// exemption (the request's body() waits for an end the tunnel never has, so no 101 ever comes).
import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { waitFor } from "@waymark/testing";
import WebSocket from "ws";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";

const POLICY = {
  apiVersion: "gateway.kgateway.dev/v1alpha1",
  kind: "TrafficPolicy",
  metadata: { name: "websocket-body", namespace: "httpbin" },
  spec: {
    targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }],
    transformation: {
      request: {
        body: { parseAs: "AsString", value: "{{ body() }}+t" },
        set: [{ name: "x-t-request", value: "seen" }],
      },
      response: {
        set: [
          { name: "x-t-status", value: "{{ header(':status') }}" },
          { name: "x-t-first", value: "{{ substring(body(), 0, 1) }}" },
        ],
      },
    },
  },
};

// go-httpbin echoes a text body as it is (other bodies become a data: URL).
const TEXT = { "content-type": "text/plain" };

/** Opens a WebSocket to httpbin2:8000 through the stand-in; resolves with the 101 and the socket. */
async function openEcho(port: number): Promise<{ ws: WebSocket; upgrade: IncomingMessage }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/websocket/echo`, {
    headers: { host: "httpbin2:8000" },
    // Only so that a handshake that never completes (the defect) fails the test instead of hanging it.
    handshakeTimeout: 10_000,
  });
  const unexpected = (once(ws, "unexpected-response") as Promise<[unknown, IncomingMessage]>).then(
    ([, res]) => {
      throw new Error(`the upgrade was answered ${res.statusCode}, not 101`);
    },
  );
  const failed = (once(ws, "error") as Promise<[Error]>).then(([e]) => {
    throw e;
  });
  // Both listened for now: ws emits "open" in the same tick as "upgrade".
  const upgraded = (once(ws, "upgrade") as Promise<[IncomingMessage]>).then(([res]) => res);
  const opened = once(ws, "open");
  // A loser of the races below that rejects later must not be an unhandled rejection.
  for (const p of [unexpected, failed, opened]) p.catch(() => undefined);
  const upgrade = await Promise.race([upgraded, unexpected, failed]);
  await Promise.race([opened, failed]);
  return { ws, upgrade };
}

async function roundTrip(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(ws, "message") as Promise<[Buffer, boolean]>;
  ws.send(data);
  const [got, isBinary] = await reply;
  return { data: got, isBinary };
}

describe("standalone: WebSocket through the waypoint on a route with a body transformation", {
  timeout: 90_000,
}, () => {
  let guide: GuideStack;

  before(async () => {
    guide = await startGuideStack("e2e-websocket");
    console.log(`logs: ${guide.logDir}`);
    writeFileSync(join(guide.dir, "50-websocket-body.yaml"), `${JSON.stringify(POLICY)}\n`);
    // The policy is in force once a plain request's body comes back transformed.
    await waitFor("the body transformation", async () => {
      const r = await guide.request("httpbin2", "/anything", {
        method: "POST",
        body: "probe",
        headers: TEXT,
      });
      return r.status === 200 && (JSON.parse(r.body) as { data: string }).data === "probe+t" ? r : undefined;
    });
  });

  after(async () => {
    await guide?.stop();
  });

  test("a plain request on the route is still transformed", async () => {
    const r = await guide.request("httpbin2", "/anything", { method: "POST", body: "hello", headers: TEXT });
    assert.equal(r.status, 200);
    const echoed = JSON.parse(r.body) as { data: string; headers: Record<string, string[]> };
    assert.equal(echoed.data, "hello+t");
    assert.deepEqual(echoed.headers["X-T-Request"], ["seen"]);
    assert.equal(r.headers["x-t-status"], "200");
    assert.equal(r.headers["x-t-first"], "{");
  });

  test("a WebSocket echo: messages both ways, headers transformed, frames untouched", async () => {
    const { ws, upgrade } = await openEcho(guide.standinPort("httpbin2"));
    try {
      assert.equal(upgrade.statusCode, 101);
      assert.equal(upgrade.headers["x-t-status"], "101", "the 101's headers are still transformed");
      assert.equal(upgrade.headers["x-t-first"], undefined, "templates see an empty body");

      const text = await roundTrip(ws, "hello through the waypoint");
      assert.equal(text.isBinary, false);
      assert.equal(text.data.toString("utf8"), "hello through the waypoint", "no +t: the body is left alone");

      const bytes = Buffer.from([0, 1, 2, 250, 255]);
      const bin = await roundTrip(ws, bytes);
      assert.equal(bin.isBinary, true);
      assert.deepEqual(bin.data, bytes);

      // Several messages in a row, in order.
      const replies: string[] = [];
      const all = new Promise<void>((resolve) => {
        ws.on("message", (d: Buffer) => {
          replies.push(d.toString("utf8"));
          if (replies.length === 3) resolve();
        });
      });
      for (const m of ["one", "two", "three"]) ws.send(m);
      await all;
      assert.deepEqual(replies, ["one", "two", "three"]);

      const closed = once(ws, "close") as Promise<[number, Buffer]>;
      ws.close(1000, "done");
      const [code] = await closed;
      assert.equal(code, 1000);
    } finally {
      ws.terminate();
    }
  });
});
