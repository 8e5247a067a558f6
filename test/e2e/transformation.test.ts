// The guide's "Transformations" step end to end, plus the rest of the transformation feature, through
// a real Envoy: the standalone example with TrafficPolicy files added and removed while it runs.
// Checks the guide's exact output, every template function, request and response headers, a JSON
// body, an invalid template's status (the route keeps working), and that Envoy never NACKs.
import assert from "node:assert/strict";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { REPO_ROOT, type Stack } from "@waymark/devstack";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";

const GUIDE_POLICY = join(REPO_ROOT, "examples", "transformation", "50-transformation.yaml");
const ENV_NAME = "WAYMARK_E2E_TRANSFORMATION_ENV";

function policyYaml(name: string, route: string, transformation: unknown): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: route }],
      transformation,
    },
  })}\n`;
}

const echoed = (r: HttpResult) => (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;

describe("standalone: TrafficPolicy transformations through Envoy", { timeout: 180_000 }, () => {
  let guide: GuideStack;
  let stack: Stack;
  let dir: string;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const to = (svc: GuideService, path: string, opts?: RequestOptions) => guide.request(svc, path, opts);

  before(async () => {
    // Set before Envoy starts: the env() template function reads Envoy's environment.
    process.env[ENV_NAME] = "from-envoy-env";
    guide = await startGuideStack("e2e-transformation");
    ({ stack, dir } = guide);
    nc = await connectBus({ servers: stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    delete process.env[ENV_NAME];
    await nc?.close();
    await stack?.stop();
  });

  const guideRequest = () =>
    to("httpbin2", "/headers", { headers: { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" } });

  test("the guide: x-base64-decoded: ion test on httpbin2, nothing on httpbin3", async () => {
    assert.equal((await guideRequest()).headers["x-base64-decoded"], undefined, "no policy yet");
    copyFileSync(GUIDE_POLICY, join(dir, "50-transformation.yaml"));
    const r = await waitFor("the guide's response header", async () => {
      const res = await guideRequest();
      return res.headers["x-base64-decoded"] !== undefined ? res : undefined;
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-base64-decoded"], "ion test");
    assert.deepEqual(echoed(r)["X-Base64-Encoded"], ["dHJhbnNmb3JtYXRpb24gdGVzdA=="]);
    assert.deepEqual(echoed(r)["App"], ["httpbin2"], "the route's own filters still apply");
    const other = await to("httpbin3", "/headers", {
      headers: { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" },
    });
    assert.equal(other.headers["x-base64-decoded"], undefined);

    const st = await waitFor("TrafficPolicy status", () =>
      getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.kgateway.dev",
          kind: "TrafficPolicy",
          namespace: "httpbin",
          name: "transformation",
        }),
      ),
    );
    const ancestors = st.status["ancestors"] as Array<{
      ancestorRef: { kind: string; name: string };
      conditions: Array<{ type: string; status: string; reason: string }>;
    }>;
    assert.equal(ancestors.length, 1);
    assert.deepEqual(ancestors[0]!.ancestorRef.kind, "Gateway");
    assert.deepEqual(ancestors[0]!.ancestorRef.name, "kgateway-waypoint");
    const c = Object.fromEntries(ancestors[0]!.conditions.map((x) => [x.type, x]));
    assert.equal(c["Accepted"]?.reason, "Valid");
    assert.equal(c["Attached"]?.reason, "Attached");
  });

  test("every function of the table, request and response headers", async () => {
    const set = (pairs: Record<string, string>) =>
      Object.entries(pairs).map(([name, value]) => ({ name, value }));
    writeFileSync(
      join(dir, "51-functions.yaml"),
      policyYaml("functions", "httpbin3", {
        request: {
          set: set({
            "x-t-header": "{{ header('x-in') }}",
            "x-t-request-header": "{{ request_header('x-in') }}",
            "x-t-cookie": "{{ get_cookie('session') }}",
            "x-t-cookie-i": "{{ get_cookie_i('SESSION') }}",
            "x-t-env": `{{ env('${ENV_NAME}') }}`,
            "x-t-substring": "{{ substring('transformation', 5, 3) }}",
            "x-t-b64": "{{ base64_encode(header('x-in')) }}",
            "x-t-b64d": "{{ base64_decode('aGVsbG8=') }}",
            "x-t-b64u": "{{ base64url_encode('a?b>c') }}",
            "x-t-b64ud": "{{ base64url_decode('YT9iPmM=') }}",
            "x-t-random": "{{ replace_with_random('id-RND', 'RND') }}",
            "x-t-replace": "{{ replace_with_string(header('x-in'), 'in', 'out') }}",
            "x-t-raw": "{{ raw_string('say \"hi\"') }}",
            "x-t-logic": "{% if header('x-in') == 'value-in' %}yes{% else %}no{% endif %}-{{ 6 * 7 }}",
            "x-t-loop": "{% for p in ['a', 'b', 'c'] %}{{ p }}{{ loop.index }}{% endfor %}",
          }),
          add: set({ "x-t-added": "{{ header('x-in') }}-added" }),
          remove: ["x-t-remove-me"],
        },
        response: {
          set: set({
            "x-r-status": "{{ header(':status') }}",
            "x-r-request": "{{ request_header('x-in') }}",
            "x-r-content-type": "{{ header('content-type') }}",
          }),
          remove: ["access-control-allow-origin"],
        },
      }),
    );
    const r = await waitFor("the functions policy", async () => {
      const res = await to("httpbin3", "/headers", {
        headers: { "x-in": "value-in", cookie: "a=1; session=s3cr3t", "x-t-remove-me": "1" },
      });
      return echoed(res)["X-T-Header"] ? res : undefined;
    });
    const h = echoed(r);
    const one = (k: string) => h[k]?.[0];
    assert.equal(one("X-T-Header"), "value-in");
    assert.equal(one("X-T-Request-Header"), "value-in");
    assert.equal(one("X-T-Cookie"), "s3cr3t");
    assert.equal(one("X-T-Cookie-I"), "s3cr3t");
    assert.equal(one("X-T-Env"), "from-envoy-env");
    assert.equal(one("X-T-Substring"), "for");
    assert.equal(one("X-T-B64"), Buffer.from("value-in").toString("base64"));
    assert.equal(one("X-T-B64d"), "hello");
    assert.equal(one("X-T-B64u"), "YT9iPmM=");
    assert.equal(one("X-T-B64ud"), "a?b>c");
    assert.match(one("X-T-Random") ?? "", /^id-[A-Za-z0-9+/]{22}$/);
    assert.equal(one("X-T-Replace"), "value-out");
    assert.equal(one("X-T-Raw"), 'say \\"hi\\"');
    assert.equal(one("X-T-Logic"), "yes-42");
    assert.equal(one("X-T-Loop"), "a1b2c3");
    assert.equal(one("X-T-Added"), "value-in-added");
    assert.equal(h["X-T-Remove-Me"], undefined);
    assert.equal(r.headers["x-r-status"], "200");
    assert.equal(r.headers["x-r-request"], "value-in");
    assert.match(String(r.headers["x-r-content-type"]), /^application\/json/);
    assert.equal(r.headers["access-control-allow-origin"], undefined);

    const again = echoed(await to("httpbin3", "/headers", { headers: { "x-in": "value-in" } }));
    assert.notEqual(again["X-T-Random"]?.[0], one("X-T-Random"), "replace_with_random is fresh per request");
  });

  test("body with parseAs AsJson: JSON fields as variables, body rewritten; invalid JSON → 400", async () => {
    writeFileSync(
      join(dir, "51-functions.yaml"),
      policyYaml("functions", "httpbin3", {
        request: {
          body: {
            parseAs: "AsJson",
            value: '{"who": "{{ user.name }}", "second": {{ items[1] }}, "count": {{ items | length }}}',
          },
        },
      }),
    );
    const st = await waitFor("Invalid status for a filter", async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.kgateway.dev",
          kind: "TrafficPolicy",
          namespace: "httpbin",
          name: "functions",
        }),
      );
      const a = (
        s?.status["ancestors"] as Array<{
          conditions: Array<{ type: string; reason: string; message: string }>;
        }>
      )?.[0];
      const c = a?.conditions.find((x) => x.type === "Accepted");
      return c?.reason === "Invalid" ? c : undefined;
    });
    assert.match(
      st.message,
      /transformation\.request\.body\.value: line 1, column \d+: filters \(\|\) are not supported/,
    );
    // The route keeps working, without the policy.
    const plain = await to("httpbin3", "/anything", {
      method: "POST",
      body: '{"user": {"name": "ann"}}',
      headers: { "content-type": "application/json" },
    });
    assert.equal(plain.status, 200);
    assert.deepEqual(echoed(plain)["App"], ["httpbin3"]);

    writeFileSync(
      join(dir, "51-functions.yaml"),
      policyYaml("functions", "httpbin3", {
        request: {
          body: {
            parseAs: "AsJson",
            value: '{"who": "{{ user.name }}", "second": {{ items[1] }}, "n": {{ items[0] + items[1] }}}',
          },
          set: [{ name: "x-json-plan", value: "{{ user.plan }}" }],
        },
      }),
    );
    const r = await waitFor("JSON body transformation", async () => {
      const res = await to("httpbin3", "/anything", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"user": {"name": "ann", "plan": "gold"}, "items": [1, 2.5]}',
      });
      return res.status === 200 && (JSON.parse(res.body) as { json?: { who?: string } }).json?.who
        ? res
        : undefined;
    });
    const j = JSON.parse(r.body) as { json: unknown; headers: Record<string, string[]> };
    assert.deepEqual(j.json, { who: "ann", second: 2.5, n: 3.5 });
    assert.deepEqual(j.headers["X-Json-Plan"], ["gold"]);
    const bad = await to("httpbin3", "/anything", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{oops",
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /^json parsing error/);
  });

  test("two routes, one Lua filter: each route runs its own template (issue 19)", async () => {
    // httpbin2 keeps the guide's policy; httpbin3 gets one that sets the same response header from
    // another template. Both run in the filter's shared code: the route's program decides.
    writeFileSync(
      join(dir, "51-functions.yaml"),
      policyYaml("functions", "httpbin3", {
        response: {
          set: [{ name: "x-base64-decoded", value: "{{ request_header('x-base64-encoded') }}-raw" }],
        },
      }),
    );
    const input = { headers: { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" } };
    const three = await waitFor("httpbin3's template", async () => {
      const res = await to("httpbin3", "/headers", input);
      return res.headers["x-base64-decoded"] !== undefined ? res : undefined;
    });
    assert.equal(three.headers["x-base64-decoded"], "dHJhbnNmb3JtYXRpb24gdGVzdA==-raw");
    const two = await guideRequest();
    assert.equal(two.headers["x-base64-decoded"], "ion test");
    // And back: the first route's program did not replace the second's.
    const threeAgain = await to("httpbin3", "/headers", input);
    assert.equal(threeAgain.headers["x-base64-decoded"], "dHJhbnNmb3JtYXRpb24gdGVzdA==-raw");
  });

  test("removing the policies removes the behaviour; Envoy never NACKed", async () => {
    rmSync(join(dir, "50-transformation.yaml"));
    rmSync(join(dir, "51-functions.yaml"));
    await waitFor(
      "no x-base64-decoded",
      async () => (await guideRequest()).headers["x-base64-decoded"] === undefined,
    );
    await waitFor("no transformed body", async () => {
      const r = await to("httpbin3", "/anything", {
        method: "POST",
        body: "{oops",
        headers: { "content-type": "text/plain" },
      });
      return r.status === 200;
    });
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {})) {
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
      }
    }
    const stats = await stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
