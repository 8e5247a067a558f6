// The generated Lua in a real Lua VM (wasmoon: Lua 5.4 as WebAssembly), against the reference
// evaluator, and property tests that no template text or request content changes the code:
// - the Lua token stream outside string literals does not depend on the text of literals;
// - arbitrary (hostile) template sources either fail with a TemplateError or compile to Lua that
//   loads; arbitrary header bytes render exactly as the evaluator says, and are never executed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import {
  bytesOf,
  compileTemplate,
  type EvalContext,
  evaluate,
  LUA_PRELUDE,
  RenderError,
  TemplateError,
} from "./index.ts";
import { luaString } from "./lua/literal.ts";
import {
  createLua,
  FAKE_ENVOY_LUA,
  type LuaVm,
  luaByteString,
  luaHeaderList,
  luaLoad,
  parseFakeJson,
} from "./testing/index.ts";

let vm: LuaVm;
before(async () => {
  vm = await createLua();
  await vm.run(`${luaLoad(`${LUA_PRELUDE}\nWAYMARK_W = W`)}\nFAKE = (function() ${FAKE_ENVOY_LUA} end)()`);
});
after(() => vm.close());

/** Renders in Lua: {ok, value} or {ok=false, err}. Headers are byte strings. */
async function renderLua(
  lua: string,
  headers: Array<[string, string]>,
  json?: string,
): Promise<{ ok: boolean; value?: string; err?: string }> {
  const setup =
    json === undefined
      ? ""
      : `C.json = W.jsondecode(${luaByteString(json)}); if W.kind(C.json) == "map" then C.vars = C.json end`;
  // The runtime is loaded once (before()); each render loads a small chunk that uses it.
  const chunk = `local W, S, T, concat = WAYMARK_W, WAYMARK_W.str, WAYMARK_W.truthy, table.concat
local h = FAKE.handle(${luaHeaderList(headers)}, nil, FAKE.shared())
local C = { h = h:headers() }
${setup}
local f = ${lua}
local ok, v = pcall(f, C)
if ok then return FAKE.json({ ok = true, value = v }) end
return FAKE.json({ ok = false, err = W.errmsg(v) })`;
  return parseFakeJson(await vm.run(`return assert(load(${luaString(chunk)}, "=t"))()`)) as {
    ok: boolean;
    value?: string;
  };
}

function renderTs(source: string, ctx: EvalContext, parseAs: "AsString" | "AsJson" = "AsString") {
  const t = compileTemplate(source, { phase: "request", parseAs });
  try {
    return { ok: true, value: evaluate(t.ast, ctx) };
  } catch (e) {
    if (e instanceof RenderError) return { ok: false, err: e.message };
    throw e;
  }
}

const headerMap = (list: Array<[string, string]>) => {
  const m = new Map<string, string[]>();
  for (const [k, v] of list) m.set(k.toLowerCase(), [...(m.get(k.toLowerCase()) ?? []), v]);
  return m;
};

// The semantics table: template → expected rendering (byte strings), checked in Lua and in TS.
const TABLE: Array<[string, string | null]> = [
  ["{{ substring('hello world', 6) }}", "world"],
  ["{{ substring('hello', 1, 3) }}", "ell"],
  ["{{ substring('hello', 3, 10) }}", "lo"],
  ["{{ substring('hello', 5) }}", ""],
  ["{{ substring('héllo', 1, 2) }}", "é"],
  ["{{ substring('abc', -1) }}", null],
  ["{{ substring('abc', 1.5) }}", null],
  ["{{ base64_encode('transformation test') }}", "dHJhbnNmb3JtYXRpb24gdGVzdA=="],
  ["{{ base64_decode('dHJhbnNmb3JtYXRpb24gdGVzdA==') }}", "transformation test"],
  ["{{ base64_decode('dHJhbnNmb3JtYXRpb24gdGVzdA') }}", "transformation test"],
  ["{{ base64_decode('not base64!') }}", ""],
  ["{{ base64_decode('/w==') }}", ""],
  ["{{ base64url_encode('??>>') }}", "Pz8-Pg=="],
  ["{{ base64url_decode('Pz8-Pg') }}", "??>>"],
  ["{{ replace_with_string('a.b.c', '.', '::') }}", "a::b::c"],
  ["{{ replace_with_string('abc', '', 'x') }}", "abc"],
  ["{{ raw_string('a\"b\\\\c\nd') }}", 'a\\"b\\\\c\\nd'],
  ["{{ header('X-Multi') }}|{{ header('missing') }}", "1, 2|"],
  ["{{ get_cookie('b') }}|{{ get_cookie('B') }}|{{ get_cookie_i('B') }}", "two||two"],
  [
    "{{ 1 + 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }}",
    "3 3.5 3 -4 -2 1024 0.3",
  ],
  ["{{ 1e20 }} {{ 1e-5 }} {{ 123456789.123 }}", "1e+20 1e-05 123456789.123"],
  ["{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ true ~ none }}", "ab a1truenone"],
  ["{{ 1 / 0 }}", null],
  ["{{ 'a' < 1 }}", null],
  ["{{ 'a' - 1 }}", null],
  ["{{ [1, 'x', none, [true]] }}", '[1, "x", none, [true]]'],
  ["{{ 1 == 1.0 }} {{ 'a' == 'a' }} {{ [1, [2]] == [1, [2]] }} {{ 1 != '1' }}", "true true true true"],
  ["{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'z' not in 'abc' }}", "true true true"],
  ["{% if '' %}a{% elif 0 %}b{% elif [] %}c{% elif none %}d{% else %}e{% endif %}", "e"],
  ["{{ '' or 'x' }} {{ 'y' and 'z' }} {{ 0 and 1 }} {{ not 0 }}", "x z 0 true"],
  ["{{ 'yes' if 2 > 1 else 'no' }}|{{ 'yes' if 1 > 2 }}", "yes|"],
  [
    "{% for x in [3, 4] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}",
    "1021truefalse23;2110falsetrue24;",
  ],
  ["{% for x in [] %}x{% else %}empty{% endfor %}", "empty"],
  ["{% for x in 1 %}{% endfor %}", null],
];

describe("semantics table: Lua VM and reference evaluator agree", () => {
  const headers: Array<[string, string]> = [
    ["X-Multi", "1"],
    ["x-multi", "2"],
    ["cookie", "a=1; b=two"],
  ];
  for (const [source, expected] of TABLE) {
    test(source, async () => {
      const t = compileTemplate(source, { phase: "request", parseAs: "AsString" });
      const lua = await renderLua(t.lua, headers);
      const ts = renderTs(source, { headers: headerMap(headers) });
      if (expected === null) {
        assert.equal(lua.ok, false, `Lua rendered ${JSON.stringify(lua.value)}`);
        assert.equal(ts.ok, false, `TS rendered ${JSON.stringify(ts.value)}`);
      } else {
        assert.deepEqual(lua, { ok: true, value: bytesOf(expected) });
        assert.deepEqual(ts, { ok: true, value: bytesOf(expected) });
      }
    });
  }

  test("JSON body variables (AsJson)", async () => {
    const body =
      '{"user": {"name": "Zoë", "tags": ["a", "b"]}, "n": 3, "nil": null, "esc": "\\u00e9\\ud83d\\ude00"}';
    const source =
      "{{ user.name }}|{{ user.tags[1] }}|{{ user.tags[-1] }}|{{ user['name'] }}|{{ n * 2 }}|{{ nil }}|{{ missing }}|{{ esc }}|{% for k in user %}{{ k }},{% endfor %}";
    const t = compileTemplate(source, { phase: "request", parseAs: "AsJson" });
    const lua = await renderLua(t.lua, [], bytesOf(body));
    assert.deepEqual(lua, { ok: true, value: bytesOf("Zoë|b|b|Zoë|6|none||é😀|name,tags,") });
  });
});

/** Lua tokens with every string literal replaced by STR (our literals never hold a raw quote). */
function luaSkeleton(code: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < code.length) {
    const c = code[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < code.length && code[j] !== '"') j += code[j] === "\\" ? 2 : 1;
      assert.ok(j < code.length, "unterminated string literal in generated Lua");
      out.push("STR");
      i = j + 1;
    } else if (code.startsWith("--", i) || (c === "[" && /^\[=*\[/.test(code.slice(i)))) {
      assert.fail(`comment or long bracket in generated Lua at ${i}: ${code.slice(i, i + 20)}`);
    } else {
      const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|\.\.|==|~=|<=|>=|.)/.exec(
        code.slice(i),
      );
      out.push(m![0]);
      i += m![0].length;
    }
  }
  return out;
}

describe("hostile input never becomes code", () => {
  test("the Lua token stream does not depend on the text of string literals or of the template text", () => {
    const shape = (lit: string, text: string) =>
      `${text}{{ replace_with_string(header(${JSON.stringify(lit)}), ${JSON.stringify(lit)}, 'x') }}${text}{% if ${JSON.stringify(lit)} in header('a') %}${text}{% endif %}`;
    const reference = luaSkeleton(
      compileTemplate(shape("a", "t"), { phase: "request", parseAs: "AsString" }).lua,
    );
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((s) => !/[{}%#]/.test(s)),
        (lit, text) => {
          const lua = compileTemplate(shape(lit, text), { phase: "request", parseAs: "AsString" }).lua;
          assert.deepEqual(luaSkeleton(lua), reference);
          assert.ok(/^[\x20-\x7e\n]*$/.test(lua), "generated Lua is printable ASCII");
        },
      ),
      { numRuns: 500 },
    );
  });

  test("arbitrary template sources: a TemplateError, or Lua that loads in the VM", async () => {
    const pieces = [
      "{{",
      "}}",
      "{%",
      "%}",
      "{#",
      "#}",
      "'",
      '"',
      "\\",
      "]]",
      "--",
      "[[",
      "if ",
      "for x in ",
      "endif",
      "endfor",
      "(",
      ")",
      "|",
      "header('a')",
      "x",
      " ",
      "\n",
      "end",
      "function",
      "os.exit()",
      "\0",
    ];
    const sources = fc.sample(
      fc.oneof(
        fc.array(fc.constantFrom(...pieces), { maxLength: 25 }).map((a) => a.join("")),
        fc.string({ unit: "binary", maxLength: 60 }),
      ),
      { numRuns: 400, seed: 42 },
    );
    let compiled = 0;
    const fns: string[] = [];
    for (const s of sources) {
      try {
        fns.push(compileTemplate(s, { phase: "request", parseAs: "AsJson" }).lua);
        compiled++;
      } catch (e) {
        assert.ok(e instanceof TemplateError, `${JSON.stringify(s)} threw ${e}`);
      }
    }
    assert.ok(compiled > 20, `only ${compiled} sources compiled`);
    const chunk = `${LUA_PRELUDE}\nlocal F = {}\n${fns.map((f, i) => `F[${i + 1}] = ${f}`).join("\n")}\nreturn #F`;
    const n = await vm.run(`return assert(load(${luaString(chunk)}, "=fuzz"))()`);
    assert.equal(Number(n), fns.length);
  });

  test("hostile header values render as data, exactly as the evaluator says", async () => {
    const source =
      "[{{ header('x-in') }}|{{ base64_decode(header('x-in')) }}|{{ raw_string(header('x-in')) }}|{{ substring(header('x-in'), 1, 5) }}]";
    const t = compileTemplate(source, { phase: "request", parseAs: "AsString" });
    const samples = fc.sample(
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 50 }).map(bytesOf),
        fc.uint8Array({ maxLength: 40 }).map((b) => String.fromCharCode(...b)),
        fc.constantFrom('"; os.exit() --', "]] .. os.exit() .. [[", "\\0\\n", "%s%d", "ZW5kKQ=="),
      ),
      { numRuns: 200, seed: 7 },
    );
    for (const value of samples) {
      const headers: Array<[string, string]> = [["x-in", value]];
      const lua = await renderLua(t.lua, headers);
      const ts = renderTs(source, { headers: headerMap(headers) });
      assert.deepEqual(lua, ts, `header ${JSON.stringify(value)}`);
    }
  });
});
