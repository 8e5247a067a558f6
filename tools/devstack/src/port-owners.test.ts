// Who holds a port, from the kernel's socket tables; and the demo refusing to start beside it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { freePort } from "@waymark/testing";
import { REPO_ROOT } from "./index.ts";
import { assertPortsFree, PortInUseError, portHolders } from "./port-owners.ts";

async function listen(port: number, host: string): Promise<Server> {
  const s = createServer();
  s.listen(port, host);
  await once(s, "listening");
  return s;
}

test("a listener is found with the pid and command line of its process", async () => {
  const port = await freePort();
  assert.deepEqual(portHolders([{ host: "127.0.0.1", port }]), [], "free before");
  const s = await listen(port, "127.0.0.1");
  try {
    const [h, ...more] = portHolders([{ host: "127.0.0.1", port }]);
    assert.equal(more.length, 0);
    assert.equal(h?.address, "127.0.0.1");
    assert.equal(h?.port, port);
    assert.deepEqual(
      h?.processes.map((p) => p.pid),
      [process.pid],
    );
    assert.match(h?.processes[0]?.command ?? "", /port-owners\.test\.ts/);
    // Another loopback address is another socket: no conflict.
    assert.deepEqual(portHolders([{ host: "127.0.0.2", port }]), []);
    assert.throws(
      () => assertPortsFree([{ host: "127.0.0.1", port }]),
      (e: unknown) =>
        e instanceof PortInUseError &&
        e.message.includes(`port ${port}: 127.0.0.1:${port} is held by pid ${process.pid} (`),
    );
  } finally {
    s.close();
  }
});

test("a wildcard listener, IPv4 or IPv6, is in the way of every address", async () => {
  for (const host of ["0.0.0.0", "::"]) {
    const port = await freePort();
    const s = await listen(port, host);
    try {
      const holders = portHolders([{ host: "127.0.0.9", port }]);
      assert.equal(holders.length, 1, host);
      assert.equal(holders[0]?.processes[0]?.pid, process.pid, host);
    } finally {
      s.close();
    }
  }
});

test("the demo refuses to start when one of its ports is taken, naming the process holding it", async () => {
  // A listener of another process on the port of the demo's httpbin3 backend.
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `require("node:net").createServer().listen(18083, "127.0.0.1", () => console.log("up")).on("error", (e) => { console.log(e.code); process.exit(1); })`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    const [first] = (await once(holder.stdout!, "data")) as [Buffer];
    // On a shared machine another demo may hold it already: the demo must then name that process.
    const expected = first.toString().trim() === "up" ? `is held by pid ${holder.pid} (` : "is held by";
    const demo = spawn(process.execPath, [join(REPO_ROOT, "scripts", "demo.ts"), "/nonexistent"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const chunks: Buffer[] = [];
    for (const stream of [demo.stdout!, demo.stderr!]) stream.on("data", (d: Buffer) => chunks.push(d));
    // "close": the process exited and its output is all read.
    const [code] = (await once(demo, "close")) as [number | null];
    const out = Buffer.concat(chunks).toString();
    assert.equal(code, 1, out);
    assert.match(out, /cannot start: (a port it needs is|ports it needs are) already taken/);
    assert.ok(out.includes(`port 18083: 127.0.0.1:18083 ${expected}`), out);
    assert.doesNotMatch(out, /Waymark is running/);
  } finally {
    holder.kill();
  }
});
