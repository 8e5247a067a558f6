// Envoy's reference rate limit service (github.com/envoyproxy/ratelimit, WAYMARK_RATELIMIT) with a
// real Redis (WAYMARK_REDIS), both built or installed by scripts/bootstrap-ratelimit.sh, on free
// loopback ports. The service reads its limits from YAML in its runtime directory; `kill` SIGKILLs it
// and `start` brings it back on the same ports with the same Redis (the counts survive, as they would
// in a deployment where the service restarts but Redis stays).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";

export const RATELIMIT_HINT = 'run `eval "$(scripts/bootstrap-ratelimit.sh)"` (node scripts/test.ts does it)';

export interface RateLimitServer {
  /** The gRPC port Envoy calls (rls.proto). */
  grpcPort: number;
  redis: Proc;
  /** The service process of the latest start. */
  proc(): Proc;
  /** SIGKILL (no graceful shutdown). */
  kill(): Promise<void>;
  /** Starts it again (same ports, same Redis), resolving once it answers its health check. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Redis and the rate limit service with `config` (the service's YAML: domain, descriptors). */
export async function startRateLimitServer(o: { logDir: string; config: string }): Promise<RateLimitServer> {
  const bin = requireEnv("WAYMARK_RATELIMIT", RATELIMIT_HINT);
  const redisBin = requireEnv("WAYMARK_REDIS", RATELIMIT_HINT);
  const redisPort = await freePort();
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const debugPort = await freePort();
  const redisDir = join(o.logDir, "redis");
  mkdirSync(redisDir, { recursive: true });
  const redis = startProcess({
    name: "redis",
    command: redisBin,
    args: ["--bind", "127.0.0.1", "--port", String(redisPort), "--save", "", "--appendonly", "no"],
    cwd: redisDir,
    logDir: o.logDir,
  });
  await waitFor("redis ready", () => redis.log().includes("Ready to accept connections"), 15_000);

  const root = join(o.logDir, "ratelimit-runtime");
  mkdirSync(join(root, "waymark", "config"), { recursive: true });
  writeFileSync(join(root, "waymark", "config", "limits.yaml"), o.config);
  const env = {
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: `127.0.0.1:${redisPort}`,
    RUNTIME_ROOT: root,
    RUNTIME_SUBDIRECTORY: "waymark",
    RUNTIME_WATCH_ROOT: "false",
    RUNTIME_IGNOREDOTFILES: "true",
    USE_STATSD: "false",
    LOG_LEVEL: "debug",
    HOST: "127.0.0.1",
    PORT: String(httpPort),
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(grpcPort),
    DEBUG_HOST: "127.0.0.1",
    DEBUG_PORT: String(debugPort),
  };
  let proc: Proc | undefined;
  let starts = 0;
  const start = async () => {
    starts++;
    const p = startProcess({ name: `ratelimit-${starts}`, command: bin, env, logDir: o.logDir });
    proc = p;
    await waitFor(
      "the rate limit service's health check",
      async () => {
        if (p.child.exitCode !== null) throw new Error(`ratelimit exited:\n${p.log().slice(-2000)}`);
        const r = await fetch(`http://127.0.0.1:${httpPort}/healthcheck`);
        return r.status === 200;
      },
      20_000,
    );
  };
  await start();
  return {
    grpcPort,
    redis,
    proc: () => proc!,
    kill: async () => proc?.kill(),
    start,
    stop: async () => {
      await proc?.stop();
      await redis.stop();
    },
  };
}
