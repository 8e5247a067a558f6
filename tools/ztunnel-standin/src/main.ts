// CLI: node tools/ztunnel-standin/src/main.ts --waypoint 127.0.0.1:15088 --identity <spiffe-id> --route <listen>=<vip:port>
import { createLogger, describeError } from "@waymark/api";
import { parseArgs, USAGE } from "./args.ts";
import { UsageError } from "./errors.ts";
import { startStandin } from "./index.ts";

const log = createLogger("ztunnel-standin");
const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

try {
  const standin = await startStandin({ ...parseArgs(argv), log });
  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    void standin.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${describeError(err)}\n\n${USAGE}\n`);
    process.exit(2);
  }
  log.error("cannot start", { err });
  process.exit(1);
}
