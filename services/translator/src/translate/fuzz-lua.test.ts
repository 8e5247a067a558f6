// Hostile templates never change the structure of the generated Lua, through the whole translation:
// a TrafficPolicy whose templates carry arbitrary text and string literals (quotes, brackets, Lua
// comments, NUL, newlines, "%") is translated, and the Lua chunk Envoy would run has the same token
// stream as with harmless text once string literals are set aside; user text appears only inside
// string literals, and the chunk is printable ASCII.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import fc from "fast-check";
import { FUZZ_SETTINGS } from "./fuzz/harness.ts";
import { translate } from "./index.ts";
import { isRecord } from "./input/guards.ts";

function world(lit: string, text: string): Map<string, KubeObject> {
  const objects: KubeObject[] = [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "wp", namespace: "a" },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s1", namespace: "a", labels: { "istio.io/use-waypoint": "wp" } },
      spec: { clusterIP: "10.0.0.1", ports: [{ name: "http", port: 8000 }] },
    },
    {
      apiVersion: "gateway.kgateway.dev/v1alpha1",
      kind: "TrafficPolicy",
      metadata: { name: "p", namespace: "a" },
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "wp" }],
        transformation: {
          request: {
            set: [
              {
                name: "x-a",
                // Not ending in the text: a template's one trailing newline is dropped (as Jinja does).
                value: `${text}{{ replace_with_string(header(${JSON.stringify(lit)}), ${JSON.stringify(lit)}, 'x') }}${text}|`,
              },
            ],
            body: {
              parseAs: "AsString",
              value: `{% if ${JSON.stringify(lit)} in header('a') %}${text}{% endif %}`,
            },
          },
          response: {
            add: [{ name: "x-b", value: `${text}{{ request_header(${JSON.stringify(lit)}) }}` }],
          },
        },
      },
    },
  ];
  return new Map(objects.map((o) => [objectKey(refOf(o)), o]));
}

function chunkOf(objects: Map<string, KubeObject>): string {
  const out = translate({ objects }, FUZZ_SETTINGS);
  const w = out.waypoints[0];
  assert.ok(w);
  const rc = w.resources[TypeUrl.route][0];
  const vh = Array.isArray(rc?.json.virtualHosts) ? rc.json.virtualHosts[0] : undefined;
  const cfg = isRecord(vh) && isRecord(vh.typedPerFilterConfig) ? vh.typedPerFilterConfig : {};
  const lua = Object.values(cfg)[0];
  assert.ok(isRecord(lua) && isRecord(lua.sourceCode), "no LuaPerRoute on the virtual host");
  return String(lua.sourceCode.inlineString);
}

/** The tokens of the generated part (after the fixed runtime), string literals replaced by STR. */
function skeleton(chunk: string): string[] {
  const start = chunk.search(/\nlocal [QP] = \{\}\n/);
  assert.ok(start > 0, "generated part not found");
  const code = chunk.slice(start);
  const out: string[] = [];
  let i = 0;
  while (i < code.length) {
    const c = code[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === '"') {
      let j = i + 1;
      while (j < code.length && code[j] !== '"') j += code[j] === "\\" ? 2 : 1;
      assert.ok(j < code.length, "unterminated string literal");
      out.push("STR");
      i = j + 1;
    } else if (code.startsWith("--", i) || /^\[=*\[/.test(code.slice(i, i + 8))) {
      assert.fail(`comment or long bracket in generated Lua: ${code.slice(i, i + 30)}`);
    } else {
      const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|\.\.|==|~=|<=|>=|.)/.exec(
        code.slice(i),
      );
      out.push(m?.[0] ?? c);
      i += m?.[0].length ?? 1;
    }
  }
  return out;
}

test("hostile template text and literals never change the generated Lua's structure", () => {
  const reference = skeleton(chunkOf(world("a", "t")));
  const hostile = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom(
      '"; os.exit() --',
      "]] .. os.exit() .. [[",
      "\\0\\n",
      "%s%d",
      "\n--[==[",
      "end function()",
    ),
  );
  fc.assert(
    fc.property(
      hostile,
      hostile.filter((s) => s !== "" && !/[{}%#]/.test(s)),
      (lit, text) => {
        const chunk = chunkOf(world(lit, text));
        assert.deepEqual(skeleton(chunk), reference);
        assert.ok(/^[\x20-\x7e\n]*$/.test(chunk), "generated Lua is printable ASCII");
      },
    ),
    { numRuns: Number(process.env.FUZZ_LUA_RUNS ?? 300), seed: Number(process.env.FUZZ_SEED ?? 20260701) },
  );
});
