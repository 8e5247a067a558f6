import { BOOTSTRAP_HINT, freePort, type Proc, requireEnv, startProcess, waitFor } from "./process.ts";

export interface Httpbin {
  port: number;
  url: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** go-httpbin, the program of the guide's mccutchen/go-httpbin image, on a free loopback port. */
export async function startHttpbin(opts: { name: string; logDir: string; port?: number }): Promise<Httpbin> {
  const bin = requireEnv("WAYMARK_HTTPBIN", BOOTSTRAP_HINT);
  const port = opts.port ?? (await freePort());
  const proc = startProcess({
    name: opts.name,
    command: bin,
    args: ["-host", "127.0.0.1", "-port", String(port), "-max-duration", "600s"],
    logDir: opts.logDir,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${opts.name} on ${url}`, async () => (await fetch(`${url}/status/200`)).status === 200);
  return { port, url, proc, stop: () => proc.stop() };
}
