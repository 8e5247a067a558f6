// The harness's comparator (lib/compare.ts) pinned against upstream's: for every case of every mesh
// test, a response that meets the case and responses broken in one way each (path, backend, host,
// namespace, a request header, the redirect Location's host, port, scheme and path, the status) go
// through our comparator and through the suite's own CompareRoundTrip (test/conformance/upstream, the
// Go module at the pinned version, run with `go test`): both must accept the first and refuse the
// same broken ones. Plus the cases upstream's Gateway rule does not cover (the mesh rule's, gRPC, the
// weights) and the claims' reasons.
//
// The one place the two models differ is mapped, not hidden: a mesh case's Request.Host is the URL
// authority and its Host header may be set in Headers, while the Gateway rule's Request.Host is the
// Host header; upstream is given the case with Request.Host = the Host header the mesh client sends
// (and "/" for an empty path, the request-target the client sends).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "@waymark/testing";
import { CLAIMED, claim, claimProblems, declaredFeatures } from "./lib/claims.ts";
import type { MeshResponse } from "./lib/client.ts";
import { checkWeights, compare, expectedStatuses, GRPC_ECHO_METHOD, sentHost } from "./lib/compare.ts";
import { decodeFields, echoOf } from "./lib/grpc-client.ts";
import { type ExpectedResponse, loadMeshTests, type SuiteTest } from "./lib/suite.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const dir = process.env["WAYMARK_GWAPI_CONFORMANCE"];
const skip = dir
  ? false
  : 'WAYMARK_GWAPI_CONFORMANCE is not set: run `eval "$(scripts/bootstrap-conformance.sh)"`';
const tests: SuiteTest[] = dir ? loadMeshTests(dir) : [];
const NS = "gateway-conformance-mesh";
const REDIRECTS = new Set([300, 301, 302, 303, 304, 305, 307, 308]);

/** A response that meets the case. */
function meets(exp: ExpectedResponse): MeshResponse {
  const status = expectedStatuses(exp)[0] ?? 200;
  const responseHeaders: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(exp.Response?.Headers ?? {})) responseHeaders[k.toLowerCase()] = [v];
  if (REDIRECTS.has(status)) {
    const rr = exp.RedirectRequest ?? {};
    const reqPath = (exp.Request.Path || "/").split("?")[0];
    const port = rr.Port ? `:${rr.Port}` : "";
    responseHeaders["location"] = [
      `${rr.Scheme || "http"}://${rr.Host || "echo"}${port}${rr.Path || reqPath}`,
    ];
    return { status, responseHeaders };
  }
  if (status !== 200) return { status, responseHeaders };
  const want = exp.ExpectedRequest?.Request;
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(exp.Request.Headers ?? {}))
    if (k.toLowerCase() !== "host") headers[k] = [v];
  for (const [k, v] of Object.entries(want?.Headers ?? {})) {
    for (const h of Object.keys(headers)) if (h.toLowerCase() === k.toLowerCase()) delete headers[h];
    headers[k] = [v];
  }
  for (const a of exp.ExpectedRequest?.AbsentHeaders ?? [])
    for (const h of Object.keys(headers)) if (h.toLowerCase() === a.toLowerCase()) delete headers[h];
  return {
    status,
    responseHeaders,
    echo: {
      host: want?.Host || sentHost(exp),
      path: exp.ExpectedRequest ? (want?.Path ?? "") : exp.Request.Path || "/",
      method: want?.Method || exp.Request.Method || "GET",
      // A case that names no namespace: upstream's Gateway rule then wants "", ours does not compare.
      namespace: exp.Namespace ?? "",
      pod: `${exp.Backend || "echo-v1"}-7d4f9b8c6-x2x9q`,
      headers,
    },
  };
}

type Mutation = { name: string; apply(r: MeshResponse): MeshResponse | undefined };
const echoEdit = (name: string, edit: (e: NonNullable<MeshResponse["echo"]>) => void): Mutation => ({
  name,
  apply: (r) => {
    if (!r.echo) return undefined;
    const e = structuredClone(r.echo);
    edit(e);
    return { ...r, echo: e };
  },
});
const locationEdit = (name: string, edit: (u: URL) => void): Mutation => ({
  name,
  apply: (r) => {
    const loc = r.responseHeaders["location"]?.[0];
    if (!loc) return undefined;
    const u = new URL(loc);
    edit(u);
    return { ...r, responseHeaders: { ...r.responseHeaders, location: [u.toString()] } };
  },
});
const MUTATIONS: Mutation[] = [
  { name: "status 500", apply: () => ({ status: 500, responseHeaders: {} }) },
  echoEdit("wrong path", (e) => {
    e.path = `${e.path}x`;
  }),
  echoEdit("wrong backend", (e) => {
    e.pod = "echo-v3-7d4f9b8c6-x2x9q";
  }),
  echoEdit("wrong host", (e) => {
    e.host = "other";
  }),
  {
    // Only for cases that name a namespace (see meets()).
    name: "wrong namespace",
    apply: (r) => (r.echo?.namespace ? { ...r, echo: { ...r.echo, namespace: "elsewhere" } } : undefined),
  },
  echoEdit("wrong method", (e) => {
    e.method = "PUT";
  }),
  echoEdit("a request header dropped", (e) => {
    const k = Object.keys(e.headers)[0];
    if (k) delete e.headers[k];
  }),
  locationEdit("Location path changed", (u) => {
    u.pathname = `${u.pathname}x`;
  }),
  locationEdit("Location host changed", (u) => {
    u.hostname = "elsewhere.example";
  }),
  locationEdit("Location port added", (u) => {
    u.port = u.port ? String(Number(u.port) + 1) : "8081";
  }),
  locationEdit("Location scheme changed", (u) => {
    const other = u.protocol === "https:" ? "http:" : "https:";
    const port = u.port;
    const s = u.toString().replace(/^https?:/, other);
    const v = new URL(s);
    if (port) v.port = port;
    u.href = v.href;
  }),
];

interface Item {
  name: string;
  ours: string | undefined;
  upstreamCase: ExpectedResponse;
  response: MeshResponse;
}

/** The case as upstream's Gateway rule reads it (see the header): Request.Host = the Host header. */
function forUpstream(exp: ExpectedResponse): ExpectedResponse {
  const headers = Object.fromEntries(
    Object.entries(exp.Request.Headers ?? {}).filter(([k]) => k.toLowerCase() !== "host"),
  );
  return {
    ...exp,
    Request: { ...exp.Request, Host: sentHost(exp), Path: exp.Request.Path || "/", Headers: headers },
  };
}

function upstreamVerdicts(items: Item[]): Map<string, string> {
  const work = tempDir("conformance-upstream");
  const input = join(work, "in.json");
  const output = join(work, "out.json");
  writeFileSync(
    input,
    JSON.stringify(items.map((i) => ({ Name: i.name, Case: i.upstreamCase, Response: i.response }))),
  );
  execFileSync("go", ["test", "-count=1", "-run", "TestCompareRoundTrip", "./..."], {
    cwd: join(here, "upstream"),
    env: { ...process.env, WAYMARK_UPSTREAM_IN: input, WAYMARK_UPSTREAM_OUT: output },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = JSON.parse(readFileSync(output, "utf8")) as Array<{ name: string; error: string }>;
  return new Map(out.map((v) => [v.name, v.error]));
}

describe("the comparator agrees with upstream's CompareRoundTrip on every mesh case", {
  skip,
  timeout: 600_000,
}, () => {
  test("right responses accepted, broken ones refused, by both", () => {
    const items: Item[] = [];
    for (const t of tests) {
      for (const [r, run] of (t.runs ?? []).entries()) {
        for (const [i, exp] of run.cases.entries()) {
          if ((exp.Request.Protocol ?? "").toLowerCase() === "grpc") continue; // the gRPC rule: below
          const base = `${t.name} run ${r} case ${i}`;
          const right = meets(exp);
          items.push({
            name: `${base}: meets the case`,
            ours: compare(exp, right).failure,
            upstreamCase: forUpstream(exp),
            response: right,
          });
          for (const m of MUTATIONS) {
            const broken = m.apply(structuredClone(right));
            if (!broken) continue;
            items.push({
              name: `${base}: ${m.name}`,
              ours: compare(exp, broken).failure,
              upstreamCase: forUpstream(exp),
              response: broken,
            });
          }
        }
      }
    }
    assert.ok(items.length > 300, `${items.length} comparisons`);
    const upstream = upstreamVerdicts(items);
    const disagree: string[] = [];
    let refused = 0;
    for (const it of items) {
      const up = upstream.get(it.name);
      assert.notEqual(up, undefined, `upstream has no verdict for ${it.name}`);
      if (up) refused++;
      if (Boolean(up) !== Boolean(it.ours))
        disagree.push(
          `${it.name}: upstream ${up ? `refuses (${up})` : "accepts"}, ours ${it.ours ? `refuses (${it.ours})` : "accepts"}`,
        );
      if (it.name.endsWith("meets the case")) assert.equal(it.ours, undefined, `${it.name}: ${it.ours}`);
    }
    assert.deepEqual(disagree, []);
    assert.ok(refused > 200, `upstream refused ${refused} of ${items.length}`);
  });

  test("the pin: a redirect whose Location keeps the original path is refused by upstream and by ours", () => {
    const t = tests.find((x) => x.name === "MeshHTTPRouteRedirectPath");
    const exp = t?.runs?.[0]?.cases[0];
    assert.ok(exp, "MeshHTTPRouteRedirectPath's first case");
    assert.equal(exp.RedirectRequest?.Path, "/replacement-prefix/lemon");
    // What a waypoint that ignored the path modifier would send: the status right, the path not.
    const response: MeshResponse = {
      status: 302,
      responseHeaders: { location: ["http://echo/original-prefix/lemon"] },
    };
    const ours = compare(exp, response).failure;
    const up = upstreamVerdicts([{ name: "pin", ours, upstreamCase: forUpstream(exp), response }]).get("pin");
    assert.match(
      up ?? "",
      /expected redirected path to be "\/replacement-prefix\/lemon", got "\/original-prefix\/lemon"/,
    );
    assert.match(
      ours ?? "",
      /expected redirected path to be "\/replacement-prefix\/lemon", got "\/original-prefix\/lemon"/,
    );
  });
});

describe("the mesh rule, gRPC and weights (what CompareRoundTrip does not cover)", () => {
  const exp: ExpectedResponse = {
    Request: { Host: "echo", Path: "/" },
    Response: { StatusCode: 200, Headers: { "X-Header-Set": "set" }, AbsentHeaders: ["X-Gone"] },
    Backend: "echo-v1",
    Namespace: NS,
  };
  const ok: MeshResponse = {
    status: 200,
    responseHeaders: { "x-header-set": ["set"] },
    echo: { host: "echo", path: "/", method: "GET", namespace: NS, pod: "echo-v1-a-b", headers: {} },
  };

  test("a response that meets the case passes; the checks it went through are listed", () => {
    const v = compare(exp, ok);
    assert.equal(v.failure, undefined);
    assert.deepEqual(
      [
        "status",
        "backend",
        "namespace",
        "host",
        "path",
        "method",
        "response-headers",
        "absent-response-headers",
      ].filter((c) => !v.applied.has(c as never)),
      [],
    );
  });

  test("a response header's last value counts (the mesh client's parser keeps the last)", () => {
    const r = { ...ok, responseHeaders: { "x-header-set": ["set", "other"] } };
    assert.match(compare(exp, r).failure ?? "", /expected header X-Header-Set=set, got other/);
  });

  test("an absent response header that is present fails, whatever the status", () => {
    const r = { ...ok, responseHeaders: { ...ok.responseHeaders, "x-gone": ["1"] } };
    assert.match(compare(exp, r).failure ?? "", /expected no header "X-Gone"/);
  });

  test("a case with an expectation the harness does not implement fails, naming it", () => {
    const later = {
      ...exp,
      Response: { ...exp.Response, ValidHeaderValues: { a: ["b"] } },
    } as ExpectedResponse;
    assert.match(compare(later, ok).failure ?? "", /does not check Response.ValidHeaderValues/);
  });

  test("a relative Location resolves against the request's URL", () => {
    const redirect: ExpectedResponse = {
      Request: { Host: "echo", Path: "/a?x=1", UnfollowRedirect: true },
      Response: { StatusCode: 302 },
      RedirectRequest: { Path: "/b" },
    };
    assert.equal(
      compare(redirect, { status: 302, responseHeaders: { location: ["/b"] } }).failure,
      undefined,
    );
    assert.match(
      compare(redirect, { status: 302, responseHeaders: { location: ["http://echo:8080/b"] } }).failure ?? "",
      /for http scheme, expected redirected port to be 80 or not set, got "8080"/,
    );
    assert.match(
      compare(redirect, { status: 302, responseHeaders: {} }).failure ?? "",
      /redirect without a Location/,
    );
  });

  test("gRPC: OK counts as 200; the method, namespace and backend are compared", () => {
    const g: ExpectedResponse = {
      Request: { Host: "echo:7070", Protocol: "grpc" },
      Response: { StatusCode: 200 },
      Namespace: NS,
    };
    const echo = {
      host: "echo:7070",
      path: GRPC_ECHO_METHOD,
      method: "POST",
      namespace: NS,
      pod: "echo-v2-a-b",
      headers: {},
    };
    assert.equal(compare(g, { status: 200, responseHeaders: {}, echo }).failure, undefined);
    assert.match(compare(g, { status: 12, responseHeaders: {} }).failure ?? "", /wanted gRPC status code/);
    assert.match(
      compare(g, { status: 200, responseHeaders: {}, echo: { ...echo, path: "/other.Service/Echo" } })
        .failure ?? "",
      /expected path to be/,
    );
    assert.match(
      compare(g, { status: 200, responseHeaders: {}, echo: { ...echo, namespace: "x" } }).failure ?? "",
      /expected namespace/,
    );
  });

  test("weights: the suite's ±5 points, no unexpected pod, every weighted backend seen", () => {
    const pods = (v1: number, v2: number, other = 0) => [
      ...Array.from({ length: v1 }, () => "echo-v1-a-b"),
      ...Array.from({ length: v2 }, () => "echo-v2-a-b"),
      ...Array.from({ length: other }, () => "echo-v3-a-b"),
    ];
    const w = { "echo-v1": 0.7, "echo-v2": 0.3, "echo-v3": 0 };
    assert.equal(checkWeights(pods(350, 150), w), undefined);
    assert.match(checkWeights(pods(400, 100), w) ?? "", /echo-v1: 0.800 not within 0.7/);
    assert.match(
      checkWeights(pods(349, 150, 1), w) ?? "",
      /expected 2 backends to receive traffic, but got 3/,
    );
    assert.match(checkWeights(pods(500, 0), w) ?? "", /none was received/);
    assert.match(checkWeights(["status-503"], w) ?? "", /unexpected pod/);
  });
});

describe("the gRPC echo reply decoder matches grpcecho.proto of the module", { skip }, () => {
  test("field numbers", () => {
    const proto = readFileSync(join(dir ?? "", "echo-basic", "grpcecho.proto"), "utf8");
    const field = (message: string, name: string) => {
      const body = new RegExp(`message ${message} \\{([^}]*)\\}`).exec(proto)?.[1] ?? "";
      return Number(new RegExp(`\\b${name} = (\\d+);`).exec(body)?.[1]);
    };
    assert.deepEqual(
      [
        field("EchoResponse", "assertions"),
        field("Assertions", "fully_qualified_method"),
        field("Assertions", "headers"),
        field("Assertions", "authority"),
        field("Assertions", "context"),
        field("Header", "key"),
        field("Header", "value"),
        field("Context", "namespace"),
        field("Context", "pod"),
      ],
      [1, 1, 2, 3, 4, 1, 2, 1, 4],
    );
    // A reply encoded by hand with those numbers decodes to what the comparison reads.
    const ld = (n: number, b: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, b.length]), b]);
    const s = (n: number, v: string) => ld(n, Buffer.from(v));
    const reply = ld(
      1,
      Buffer.concat([
        s(1, GRPC_ECHO_METHOD),
        ld(2, Buffer.concat([s(1, "x-a"), s(2, "1")])),
        s(3, "echo:7070"),
        ld(4, Buffer.concat([s(1, NS), s(4, "echo-v1-a-b")])),
      ]),
    );
    assert.equal(decodeFields(reply).size, 1);
    assert.deepEqual(echoOf(reply), {
      path: GRPC_ECHO_METHOD,
      host: "echo:7070",
      method: "POST",
      namespace: NS,
      pod: "echo-v1-a-b",
      headers: { "x-a": ["1"] },
    });
  });
});

describe("claims", { skip }, () => {
  test("the lists agree with the features; a test needing an undeclared feature is skipped with why", () => {
    assert.deepEqual(claimProblems(tests, declaredFeatures({})), []);
    const grpc = tests.find((t) => t.name === "MeshGRPCRouteWeight");
    assert.ok(grpc);
    assert.deepEqual(claim(grpc, declaredFeatures({})), { claimed: true });
    const withoutGrpc = new Set([...declaredFeatures({})].filter((f) => f !== "GRPCRoute"));
    assert.deepEqual(claim(grpc, withoutGrpc), {
      claimed: false,
      reason: "needs feature GRPCRoute, which Waymark does not declare",
    });
    for (const t of tests) {
      const c = claim(t, declaredFeatures({}));
      assert.equal(c.claimed, CLAIMED.includes(t.name), t.name);
    }
  });
});
