import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { claimPort, freePort } from "./ports.ts";
import { tempDir } from "./process.ts";

/** claimPort(port) run in another Node process, against the same claims directory. */
function claimElsewhere(port: number, dir: string): boolean {
  const src = `import { claimPort } from ${JSON.stringify(new URL("./ports.ts", import.meta.url).href)};
process.stdout.write(String(claimPort(${port}, Date.now(), ${JSON.stringify(dir)})));`;
  return execFileSync(process.execPath, ["--input-type=module", "-e", src], { encoding: "utf8" }) === "true";
}

test("a claimed port is refused here and in another process while the claim is live", () => {
  const dir = tempDir("ports");
  assert.equal(claimPort(40_001, Date.now(), dir), true);
  assert.equal(claimPort(40_001, Date.now(), dir), false, "this process handed it out already");
  assert.equal(claimElsewhere(40_001, dir), false, "another test process is refused it");
  assert.equal(claimElsewhere(40_002, dir), true, "another port is free to claim");
  assert.equal(claimPort(40_002, Date.now(), dir), false, "and then refused here");
});

test("a claim older than ten minutes is taken over by another process", () => {
  const dir = tempDir("ports-stale");
  assert.equal(claimPort(40_003, Date.now(), dir), true);
  const old = new Date(Date.now() - 11 * 60_000);
  utimesSync(join(dir, "40003"), old, old);
  assert.equal(claimElsewhere(40_003, dir), true);
});

test("freePort never hands the same port out twice (the OS often does)", async () => {
  // Linux hands a just-closed port out again often: about one in eight of 2,000 calls in a row.
  const dir = tempDir("ports-many");
  const ports = new Set<number>();
  for (let i = 0; i < 1000; i++) ports.add(await freePort("127.0.0.1", dir));
  assert.equal(ports.size, 1000);
});
