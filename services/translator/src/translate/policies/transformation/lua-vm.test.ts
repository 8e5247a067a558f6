// Runs the generated chunks in a real Lua VM (Lua 5.4 as WebAssembly, npm wasmoon) against a Lua
// double of Envoy's stream handle API, checking kgateway's transformation semantics table: order of
// operations, templates seeing the unchanged headers, set-empty removes, add-empty skipped, render
// errors drop one header, AsJson variables and 400 on invalid JSON, request headers in responses.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  createLua,
  FAKE_ENVOY_LUA,
  type LuaVm,
  luaByteString,
  luaHeaderList,
  luaLoad,
  parseFakeJson,
} from "@waymark/inja/testing";
import { formatFieldError } from "../feature.ts";
import { TRANSFORMATION_SHARED_CODE, transformationChunk, transformationProgram } from "./chunk.ts";
import { readTransformation } from "./spec.ts";

interface Message {
  headers: Array<[string, string]>;
  body?: string;
}

interface Result {
  headers: Array<[string, string]>;
  body: string | null;
  responded: { headers: Record<string, string>; body: string } | null;
  logs: string[];
}

interface Exchange {
  request: Result;
  response: Result | null;
  metadata: Record<string, Record<string, unknown>>;
}

let vm: LuaVm;
before(async () => {
  vm = await createLua();
});
after(() => vm.close());

function chunkOf(spec: unknown): { chunk: string; program: string } {
  const r = readTransformation(spec);
  if (!r.ok) throw new Error(r.errors.map(formatFieldError).join("; "));
  const chunk = transformationChunk(r.value);
  const program = transformationProgram(r.value);
  assert.ok(chunk && program, "no chunk");
  return { chunk, program };
}

async function exchange(
  spec: unknown,
  request: Message,
  response?: Message,
  env: Record<string, string> = {},
  /** false where the outcome is random (both runs are still made, and must not fail). */
  compare = true,
): Promise<Exchange> {
  const { chunk, program } = chunkOf(spec);
  // Each exchange runs twice: the self-contained chunk (a virtual host's inline source) and the
  // filter's shared code with the program in the route's metadata (a route's). Both must agree.
  const inline = await runExchange(luaLoad(chunk), "", request, response, env);
  const routeMd = `{ get = function(_, k) if k == "program" then return ${luaByteString(program)} end end }`;
  const shared = await runExchange(
    luaLoad(TRANSFORMATION_SHARED_CODE),
    `function h:metadata() return ${routeMd} end`,
    request,
    response,
    env,
  );
  if (compare) assert.deepEqual(shared, inline, "the shared code and the inline chunk differ");
  else assert.deepEqual(shared.request.logs, inline.request.logs);
  return inline;
}

async function runExchange(
  load: string,
  routeMetadata: string,
  request: Message,
  response: Message | undefined,
  env: Record<string, string>,
): Promise<Exchange> {
  const envTable = `{${Object.entries(env)
    .map(([k, v]) => `[${luaByteString(k)}] = ${luaByteString(v)}`)
    .join(", ")}}`;
  const body = (m: Message) => (m.body === undefined ? "nil" : luaByteString(m.body));
  const script = `
    envoy_on_request, envoy_on_response = nil, nil
    local ENV = ${envTable}
    os.getenv = function(k) return ENV[k] end
    ${load}
    local fake = (function() ${FAKE_ENVOY_LUA} end)()
    local newhandle = fake.handle
    fake.handle = function(...)
      local h = newhandle(...)
      ${routeMetadata}
      return h
    end
    local shared = fake.shared()
    local req = fake.handle(${luaHeaderList(request.headers)}, ${body(request)}, shared)
    if envoy_on_request then envoy_on_request(req) end
    local out = { request = req:result(), metadata = shared.metadata }
    ${
      response
        ? `if not out.request.responded then
      local res = fake.handle(${luaHeaderList(response.headers)}, ${body(response)}, shared)
      if envoy_on_response then envoy_on_response(res) end
      out.response = res:result()
    end`
        : ""
    }
    return fake.json(out)`;
  const r = parseFakeJson(await vm.run(script)) as {
    request: {
      headers: Array<[string, string]>;
      body?: string;
      responded?: Result["responded"];
      logs?: string[];
    };
    response?: { headers: Array<[string, string]>; body?: string; logs?: string[] };
    metadata?: Record<string, Record<string, unknown>>;
  };
  const norm = (x: {
    headers: Array<[string, string]>;
    body?: string;
    responded?: Result["responded"];
    logs?: string[];
  }): Result => ({
    headers: x.headers ?? [],
    body: x.body ?? null,
    responded: x.responded ?? null,
    logs: x.logs ?? [],
  });
  return {
    request: norm(r.request),
    response: r.response ? norm(r.response) : null,
    metadata: r.metadata ?? {},
  };
}

const h = (r: Result, name: string) => r.headers.filter(([k]) => k === name).map(([, v]) => v);
const TEXT = "dHJhbnNmb3JtYXRpb24gdGVzdA==";

describe("transformation chunks in a Lua VM", () => {
  test("the guide: response header from a request header, decoded and cut", async () => {
    const ex = await exchange(
      {
        response: {
          set: [
            {
              name: "x-base64-decoded",
              value: '{{ substring(base64_decode(request_header("x-base64-encoded")), 11) }}',
            },
          ],
        },
      },
      {
        headers: [
          [":path", "/headers"],
          ["x-base64-encoded", TEXT],
        ],
      },
      {
        headers: [
          [":status", "200"],
          ["content-type", "application/json"],
        ],
      },
    );
    assert.deepEqual(h(ex.response!, "x-base64-decoded"), ["ion test"]);
    assert.deepEqual(h(ex.request, "x-base64-decoded"), []);
  });

  test("templates see the headers as they were; set empty removes, add empty is skipped", async () => {
    const ex = await exchange(
      {
        request: {
          set: [
            { name: "x-a", value: "{{ header('x-b') }}" },
            { name: "x-b", value: "new-b" },
            { name: "x-gone", value: "{{ header('x-missing') }}" },
          ],
          add: [
            { name: "x-list", value: "{{ header('x-a') }}" },
            { name: "x-skip", value: "" },
          ],
          remove: ["x-drop"],
        },
      },
      {
        headers: [
          ["x-a", "old-a"],
          ["x-b", "old-b"],
          ["x-gone", "here"],
          ["x-list", "one"],
          ["x-drop", "bye"],
        ],
      },
    );
    const r = ex.request;
    assert.deepEqual(h(r, "x-a"), ["old-b"]);
    assert.deepEqual(h(r, "x-b"), ["new-b"]);
    assert.deepEqual(h(r, "x-gone"), []);
    assert.deepEqual(h(r, "x-list"), ["one", "old-a"]);
    assert.deepEqual(h(r, "x-skip"), []);
    assert.deepEqual(h(r, "x-drop"), []);
  });

  test("order: remove runs after set and add of the same header", async () => {
    const ex = await exchange(
      {
        request: { set: [{ name: "x-t", value: "s" }], add: [{ name: "x-t", value: "a" }], remove: ["x-t"] },
      },
      { headers: [["x-t", "orig"]] },
    );
    assert.deepEqual(h(ex.request, "x-t"), []);
  });

  test("a render error drops only that header and is logged", async () => {
    const ex = await exchange(
      {
        request: {
          set: [
            { name: "x-bad", value: "{{ substring('abc', -1) }}" },
            { name: "x-bad2", value: "{{ 1 / 0 }}" },
            { name: "x-good", value: "ok" },
          ],
        },
      },
      { headers: [["x-bad", "kept"]] },
    );
    assert.deepEqual(h(ex.request, "x-bad"), ["kept"]);
    assert.deepEqual(h(ex.request, "x-bad2"), []);
    assert.deepEqual(h(ex.request, "x-good"), ["ok"]);
    assert.equal(ex.request.logs.length, 2);
    assert.match(
      ex.request.logs[0]!,
      /^warn: waymark transformation: x-bad: substring\(\) expects a non-negative integer/,
    );
  });

  test("a rendered value with CR or LF is dropped, never sent", async () => {
    // "a\r\nx-evil: 1" in base64
    const evil = Buffer.from("a\r\nx-evil: 1").toString("base64");
    const ex = await exchange(
      { request: { set: [{ name: "x-out", value: "{{ base64_decode(header('x-in')) }}" }] } },
      { headers: [["x-in", evil]] },
    );
    assert.deepEqual(h(ex.request, "x-out"), []);
    assert.deepEqual(h(ex.request, "x-evil"), []);
    assert.match(ex.request.logs[0] ?? "", /CR, LF or NUL/);
  });

  test("body AsJson: top-level keys are variables; body replaced; content-length updated", async () => {
    const ex = await exchange(
      {
        request: {
          body: {
            parseAs: "AsJson",
            value:
              '{"greeting": "hello {{ user.name }}", "n": {{ items[1] * 2 }}, "raw": "{{ raw_string(note) }}"}',
          },
          set: [{ name: "x-user", value: "{{ user.name }}" }],
          dynamicMetadata: [{ namespace: "ns.test", key: "plan", value: { stringValue: "{{ user.plan }}" } }],
        },
      },
      {
        headers: [
          ["content-type", "application/json"],
          ["content-length", "71"],
        ],
        body: '{"user": {"name": "ann", "plan": "gold"}, "items": [1, 2.5], "note": "a \\"q\\""}',
      },
    );
    const r = ex.request;
    assert.equal(r.body, '{"greeting": "hello ann", "n": 5, "raw": "a \\"q\\""}');
    assert.deepEqual(JSON.parse(r.body!), { greeting: "hello ann", n: 5, raw: 'a "q"' });
    assert.deepEqual(h(r, "content-length"), [String(r.body!.length)]);
    assert.deepEqual(h(r, "x-user"), ["ann"]);
    assert.deepEqual(ex.metadata["ns.test"], { plan: "gold" });
  });

  test("AsJson with invalid JSON answers 400 and does not forward", async () => {
    const ex = await exchange(
      { request: { body: { parseAs: "AsJson" }, set: [{ name: "x", value: "{{ a }}" }] } },
      { headers: [["content-type", "application/json"]], body: "{not json" },
    );
    assert.equal(ex.request.responded?.headers[":status"], "400");
    assert.match(ex.request.responded?.body ?? "", /^json parsing error/);
  });

  test("AsJson on a response: invalid JSON becomes a 400", async () => {
    const ex = await exchange(
      { response: { body: { parseAs: "AsJson" } } },
      { headers: [] },
      {
        headers: [
          [":status", "200"],
          ["content-length", "3"],
        ],
        body: "nop",
      },
    );
    assert.deepEqual(h(ex.response!, ":status"), ["400"]);
    assert.match(ex.response!.body ?? "", /^json parsing error/);
  });

  test("body AsString: body() in header templates; the body itself is kept", async () => {
    const ex = await exchange(
      { request: { set: [{ name: "x-len", value: "{{ substring(body(), 0, 4) }}" }] } },
      { headers: [], body: "abcdefgh" },
    );
    assert.deepEqual(h(ex.request, "x-len"), ["abcd"]);
    assert.equal(ex.request.body, "abcdefgh");
  });

  // An upgrade's body is its tunnel: it must never be buffered (body() would wait for an end that
  // never comes). The fake hands body() the bytes given, so buffering shows as those bytes reaching
  // the templates or being replaced.
  const BODY_SPEC = {
    request: {
      body: { parseAs: "AsString", value: "replaced" },
      set: [{ name: "x-seen", value: "[{{ body() }}]" }],
    },
    response: {
      body: { parseAs: "AsString", value: "replaced" },
      set: [{ name: "x-seen", value: "[{{ body() }}]" }],
    },
  };
  for (const [what, headers] of [
    [
      "a WebSocket upgrade",
      [
        [":method", "GET"],
        ["connection", "keep-alive, Upgrade"],
        ["upgrade", "websocket"],
      ],
    ],
    ["CONNECT", [[":method", "CONNECT"]]],
  ] as Array<[string, Array<[string, string]>]>) {
    test(`${what} is not buffered: headers transformed, body left alone`, async () => {
      const ex = await exchange(
        BODY_SPEC,
        { headers, body: "frames" },
        { headers: [[":status", "101"]], body: "frames back" },
      );
      assert.deepEqual(h(ex.request, "x-seen"), ["[]"]);
      assert.equal(ex.request.body, "frames");
      assert.deepEqual(h(ex.response!, "x-seen"), ["[]"]);
      assert.equal(ex.response!.body, "frames back");
    });
  }

  test("an upgrade header without connection: upgrade is a plain request, buffered", async () => {
    const ex = await exchange(
      BODY_SPEC,
      {
        headers: [
          [":method", "POST"],
          ["upgrade", "websocket"],
        ],
        body: "abc",
      },
      { headers: [[":status", "200"]], body: "def" },
    );
    assert.deepEqual(h(ex.request, "x-seen"), ["[abc]"]);
    assert.equal(ex.request.body, "replaced");
    assert.deepEqual(h(ex.response!, "x-seen"), ["[def]"]);
    assert.equal(ex.response!.body, "replaced");
  });

  test("AsJson on an upgrade: no body, no 400", async () => {
    const ex = await exchange(
      { request: { body: { parseAs: "AsJson" }, set: [{ name: "x", value: "ok" }] } },
      {
        headers: [
          ["connection", "upgrade"],
          ["upgrade", "websocket"],
        ],
        body: "{not json",
      },
    );
    assert.equal(ex.request.responded, null);
    assert.deepEqual(h(ex.request, "x"), ["ok"]);
    assert.equal(ex.request.body, "{not json");
  });

  test("the function table", async () => {
    const vals: Record<string, string> = {
      header: "{{ header('X-Multi') }}",
      cookie: "{{ get_cookie('session') }}",
      cookieI: "{{ get_cookie_i('SESSION') }}",
      env: "{{ env('WM_TEST_ENV') }}|{{ env('WM_UNSET') }}",
      sub1: "{{ substring('hello', 1, 3) }}",
      sub2: "{{ substring('hello', 1, 99) }}",
      sub3: "{{ substring('hello', 9) }}",
      b64: "{{ base64_encode('transformation test') }}",
      b64d: "{{ base64_decode('aGk=') }}|{{ base64_decode('!!') }}|{{ base64_decode('/w==') }}",
      b64u: "{{ base64url_encode('\xff\xfe') }}|{{ base64url_decode(base64url_encode('a?b>')) }}",
      rws: "{{ replace_with_string('a-b-c', '-', '+') }}",
      raw: "{{ raw_string('q\"\\\\n') }}",
      expr: "{% if 2 > 1 and 'b' in 'abc' %}y{% elif false %}n{% else %}z{% endif %}{{ 10 % 3 }}{{ 2 ** 3 }}",
      loop: "{% for x in ['a', 'b'] %}{{ loop.index0 }}={{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
    };
    const ex = await exchange(
      {
        request: { set: Object.entries(vals).map(([k, v]) => ({ name: `x-${k.toLowerCase()}`, value: v })) },
      },
      {
        headers: [
          ["x-multi", "1"],
          ["x-multi", "2"],
          ["cookie", "a=1; session=abc"],
          ["cookie", "Session=up"],
        ],
      },
      undefined,
      { WM_TEST_ENV: "from-env" },
    );
    const got = (k: string) => h(ex.request, `x-${k.toLowerCase()}`)[0];
    assert.equal(got("header"), "1, 2");
    assert.equal(got("cookie"), "abc");
    assert.equal(got("cookieI"), "abc");
    assert.equal(got("env"), "from-env|");
    assert.equal(got("sub1"), "ell");
    assert.equal(got("sub2"), "ello");
    assert.equal(got("sub3"), undefined); // empty → set removes
    assert.equal(got("b64"), "dHJhbnNmb3JtYXRpb24gdGVzdA==");
    assert.equal(got("b64d"), "hi||"); // invalid base64 and invalid UTF-8 → ""
    assert.equal(got("b64u"), "w7_Dvg==|a?b>"); // the template's text is UTF-8: ÿþ is c3 bf c3 be
    assert.equal(got("rws"), "a+b+c");
    assert.equal(got("raw"), 'q\\"\\\\n');
    assert.equal(got("expr"), "y18");
    assert.equal(got("loop"), "0=a,1=b");
  });

  test("replace_with_random: fresh on every request, 22 base64 characters", async () => {
    const spec = { request: { set: [{ name: "x-id", value: "{{ replace_with_random('id-X', 'X') }}" }] } };
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const v = h((await exchange(spec, { headers: [] }, undefined, {}, false)).request, "x-id")[0] ?? "";
      assert.match(v, /^id-[A-Za-z0-9+/]{22}$/);
      seen.add(v);
    }
    assert.equal(seen.size, 5);
  });

  test("request headers reach response templates; only those named are kept", async () => {
    const ex = await exchange(
      { response: { set: [{ name: "x-echo", value: "{{ request_header('x-in') }}/{{ header('x-up') }}" }] } },
      {
        headers: [
          ["x-in", "req"],
          ["x-other", "secret"],
        ],
      },
      {
        headers: [
          [":status", "200"],
          ["x-up", "resp"],
        ],
      },
    );
    assert.deepEqual(h(ex.response!, "x-echo"), ["req/resp"]);
    assert.deepEqual(ex.metadata["waymark.transformation"], { request_headers: { "x-in": "req" } });
  });

  test("pseudo-headers: :path can be set; :status set in responses", async () => {
    const ex = await exchange(
      {
        request: { set: [{ name: ":path", value: "/anything{{ header(':path') }}" }] },
        response: { set: [{ name: ":status", value: "201" }] },
      },
      { headers: [[":path", "/x"]] },
      { headers: [[":status", "200"]] },
    );
    assert.deepEqual(h(ex.request, ":path"), ["/anything/x"]);
    assert.deepEqual(h(ex.response!, ":status"), ["201"]);
  });
});
