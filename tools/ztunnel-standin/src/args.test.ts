import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs } from "./args.ts";
import { UsageError } from "./errors.ts";

test("parses waypoint, identity and repeated routes (IPv6 in brackets, --flag=value too)", () => {
  const o = parseArgs([
    "--waypoint",
    "127.0.0.1:15088",
    "--identity=spiffe://cluster.local/ns/httpbin/sa/client",
    "--route",
    "127.0.0.1:15001=10.96.0.12:8000",
    "--route",
    "[::1]:0=[fd00::12]:80",
  ]);
  assert.deepEqual(o, {
    waypoint: { host: "127.0.0.1", port: 15088 },
    identity: "spiffe://cluster.local/ns/httpbin/sa/client",
    routes: [
      { listen: { host: "127.0.0.1", port: 15001 }, destination: { address: "10.96.0.12", port: 8000 } },
      { listen: { host: "::1", port: 0 }, destination: { address: "fd00::12", port: 80 } },
    ],
  });
});

test("bad arguments are UsageErrors with a clear message", () => {
  const base = ["--waypoint", "127.0.0.1:15088", "--identity", "spiffe://td/x"];
  const cases: Array<[string[], RegExp]> = [
    [[...base], /at least one --route/],
    [["--identity", "spiffe://td/x", "--route", "a:1=10.0.0.1:2"], /--waypoint is required/],
    [[...base, "--route", "127.0.0.1:1"], /not <listen-host:port>=<vip:port>/],
    [[...base, "--route", "127.0.0.1:1=svc.local:80"], /must be an IP address/],
    [[...base, "--route", "127.0.0.1:99999=10.0.0.1:80"], /not host:port/],
    [["--waypoint", "127.0.0.1:1", "--identity", "client", "--route", "a:1=10.0.0.1:2"], /not a SPIFFE id/],
    [[...base, "--bogus"], /unknown argument "--bogus"/],
    [["--waypoint"], /--waypoint needs a value/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(
      () => parseArgs(argv),
      (e) => e instanceof UsageError && re.test(e.message),
      argv.join(" "),
    );
  }
});
