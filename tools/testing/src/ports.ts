// Free TCP ports for the programs tests start. The OS picks a port that is free now; the program binds
// it later. In between, another call (in this process or in a test file running beside it) can be
// handed the same port, and one of the two programs then fails with EADDRINUSE. So every port handed
// out is claimed: in this process by a set, across processes by a directory made atomically under the
// temp dir. A claim lasts CLAIM_MS, long enough for the program to bind it.
import { mkdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CLAIM_MS = 10 * 60_000;
const CLAIMS = join(tmpdir(), "waymark-port-claims");
const ATTEMPTS = 50;
const claimedHere = new Set<number>();

function osPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, host, () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Claims `port` for this process unless a live claim (here or in another process) holds it. */
export function claimPort(port: number, now = Date.now(), dir = CLAIMS): boolean {
  if (claimedHere.has(port)) return false;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, String(port));
  try {
    mkdirSync(path);
  } catch {
    let age: number;
    try {
      age = now - statSync(path).mtimeMs;
    } catch {
      return false; // removed between the two calls: let the next attempt take another port
    }
    if (age < CLAIM_MS) return false;
    rmSync(path, { recursive: true, force: true });
    try {
      mkdirSync(path); // a stale claim: take it over, unless another process just did
    } catch {
      return false;
    }
  }
  claimedHere.add(port);
  return true;
}

/** A TCP port free on `host` now and handed to no other caller for the next ten minutes. */
export async function freePort(host = "127.0.0.1", claims = CLAIMS): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = await osPort(host);
    if (claimPort(port, Date.now(), claims)) return port;
  }
  throw new Error(`no unclaimed free port after ${ATTEMPTS} tries (claims in ${claims})`);
}
