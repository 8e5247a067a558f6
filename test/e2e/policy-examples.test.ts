// examples/policies/README.md word for word: each of its `sh` blocks runs in bash (from the
// repository, with the demo's stand-in ports replaced by this stack's, and `examples/standalone/` by
// the watched directory) while the guide stack runs, and prints exactly the `console` block after it.
// Both policies are then Accepted as Valid, and removing them (the README's last command) lifts them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const README = readFileSync(join(ROOT, "examples", "policies", "README.md"), "utf8");

/** The README's sh blocks, each with the console block that follows it. */
function steps(): Array<{ sh: string; expect: string }> {
  const out: Array<{ sh: string; expect: string }> = [];
  const re = /```sh\n([\s\S]*?)```\n```console\n([\s\S]*?)```/g;
  for (const m of README.matchAll(re)) out.push({ sh: m[1]!, expect: m[2]! });
  return out;
}

describe("examples/policies/README.md, word for word", { timeout: 180_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  const local = (sh: string) =>
    sh
      .replaceAll("127.0.0.1:15002", `127.0.0.1:${guide.standinPort("httpbin2")}`)
      .replaceAll("127.0.0.1:15003", `127.0.0.1:${guide.standinPort("httpbin3")}`)
      .replaceAll("examples/standalone/", `${guide.dir}/`);
  const bash = (sh: string) =>
    execFileSync("bash", ["-euo", "pipefail", "-c", local(sh)], { cwd: ROOT, encoding: "utf8" });
  const accepted = async (name: string) => {
    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
    );
    return (
      st?.status["ancestors"] as Array<{ conditions: Array<{ type: string; reason: string }> }> | undefined
    )?.[0]?.conditions.find((c) => c.type === "Accepted")?.reason;
  };
  const status = (svc: "httpbin2" | "httpbin3") => guide.request(svc, "/get").then((r) => r.status);

  before(async () => {
    guide = await startGuideStack("e2e-policy-examples");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("each sh block prints its console block; both policies Valid; the rm lifts them", async () => {
    const blocks = steps();
    assert.equal(blocks.length, 2, "the README has a rate-limit and a basic-auth step");
    for (const { sh, expect } of blocks) {
      // The copy is the first line; the requests run once the policy is in force (the README's
      // reader runs them after the copy, by hand), checked by its status and a waited-for answer.
      const [copy, ...requests] = sh.trimEnd().split("\n");
      bash(copy!);
      const name = /6\d-([a-z-]+)\.yaml/.exec(copy!)![1]!;
      await waitFor(`${name} Valid`, async () => (await accepted(name)) === "Valid");
      if (name === "basic-auth")
        await waitFor("basic auth in force", async () => (await status("httpbin3")) === 401);
      // The rate limit is not probed (a probe would spend a token): its policy being Valid is not
      // enough either, so wait for Envoy to hold the route's bucket (its config dump).
      if (name === "rate-limit")
        await waitFor("the bucket in Envoy", async () => {
          const dump = await guide.stack.envoy.admin("/config_dump?resource=dynamic_route_configs");
          return dump.includes("http_local_rate_limiter");
        });
      assert.equal(bash(requests.join("\n")), expect, `output of:\n${sh}`);
    }
    const rm = /`(rm examples\/standalone\/[^`]+)`/.exec(README)?.[1];
    assert.ok(rm, "the README says how to remove them");
    bash(rm);
    await waitFor(
      "both lifted",
      async () => (await status("httpbin2")) === 200 && (await status("httpbin3")) === 200,
    );
  });
});
