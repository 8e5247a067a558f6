// `make demo`: Waymark in standalone mode on this machine with the guide's header-control example.
// The watcher reads examples/standalone (or the directory given as the first argument): edit a file
// there and the waypoint Envoy changes within a second. Ctrl-C stops everything, and so do SIGTERM and
// SIGHUP (the terminal closing); nothing it started outlives it, even when it is killed (the devstack
// and @waymark/testing see to both). It refuses to start when one of its ports is taken, and names
// the process holding it.
import { resolve } from "node:path";
import { PortInUseError, REPO_ROOT, startStack } from "@waymark/devstack";
import { onShutdownSignal, tempDir } from "@waymark/testing";
import { ensureToolchain } from "./lib/toolchain.ts";

// After the terminal closed, writing to it fails (EIO): that must not stop the shutdown halfway.
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});

ensureToolchain();

const sourceDir = resolve(process.argv[2] ?? `${REPO_ROOT}/examples/standalone`);
const logDir = tempDir("demo");
console.log(`Starting Waymark (standalone) on ${sourceDir}\nlogs: ${logDir}`);
const stack = await startStack({
  sourceDir,
  logDir,
  waypoint: { namespace: "httpbin", name: "kgateway-waypoint" },
  waypointPort: 15088,
  bindAddress: "127.0.0.1",
  backends: [
    { name: "httpbin2", port: 18082 },
    { name: "httpbin3", port: 18083 },
  ],
  standin: {
    identity: "spiffe://cluster.local/ns/httpbin/sa/client",
    routes: [
      { listenPort: 15002, vip: "10.96.0.12", port: 8000 },
      { listenPort: 15003, vip: "10.96.0.13", port: 8000 },
    ],
  },
  natsPort: 4222,
  xdsPorts: [18000],
  envoyAdminPort: 19000,
}).catch((err: unknown) => {
  if (!(err instanceof PortInUseError)) throw err;
  console.error(err.message);
  process.exit(1);
});
console.log(`
Waymark is running: NATS nats://127.0.0.1:4222, xds-server 127.0.0.1:18000, waypoint Envoy admin
http://127.0.0.1:19000. The ztunnel stand-in delivers httpbin2:8000 (VIP 10.96.0.12) from 127.0.0.1:15002
and httpbin3:8000 (VIP 10.96.0.13) from 127.0.0.1:15003 to the waypoint, as ztunnel would. Try:

  curl -s --connect-to httpbin2:8000:127.0.0.1:15002 http://httpbin2:8000/get -H "X-Remove: this header"
  curl -s --connect-to httpbin3:8000:127.0.0.1:15003 http://httpbin3:8000/get -H "X-Remove: this header"

Status of every object:  pnpm waymark status
Press Ctrl-C to stop (closing the terminal stops it too).`);
onShutdownSignal(async (signal) => {
  console.log(`${signal}: stopping…`);
  await stack.stop();
  process.exit(0);
});
