// One transformation → one Lua chunk for Envoy's Lua filter (LuaPerRoute inline source): the
// template runtime, the compiled templates, and envoy_on_request / envoy_on_response applying
// kgateway's semantics:
// - every template is rendered first, against the message as it arrived (headers before any change);
// - then, in order: body, set (an empty value removes the header), add (an empty value is skipped),
//   remove, dynamic metadata;
// - a render error drops only that one header (or body, or metadata entry) and is logged;
// - parseAs AsJson: invalid JSON answers 400 (requests) or becomes a 400 (responses);
// - the body is buffered only when a template needs it.
// Names and templates from the policy reach the chunk only as string literals (luaString).
import { LUA_PRELUDE, luaString } from "@waymark/inja";
import type { SideTransformation, Transformation } from "./spec.ts";

/** Where the request keeps the request headers that response templates read. */
export const KEPT_HEADERS_NAMESPACE = "waymark.transformation";
const KEPT_HEADERS_KEY = "request_headers";

class Lines {
  readonly out: string[] = [];
  private depth = 0;
  line(s: string): void {
    this.out.push(`${"  ".repeat(this.depth)}${s}`);
  }
  block(open: string, body: () => void, close = "end"): void {
    this.line(open);
    this.depth++;
    body();
    this.depth--;
    this.line(close);
  }
}

function side(L: Lines, t: SideTransformation, table: string, keep: KeepSpec | undefined): void {
  const fn = t.phase === "request" ? "envoy_on_request" : "envoy_on_response";
  const templates: string[] = [];
  const ref = (lua: string) => {
    templates.push(lua);
    return `${table}[${templates.length}]`;
  };
  // Templates first, as functions in a table (a chunk may hold many of them).
  const body = t.body ? ref(t.body.lua) : undefined;
  const sets = t.set.map((h) => ({ name: h.name, f: ref(h.template.lua) }));
  const adds = t.add.map((h) => ({ name: h.name, f: ref(h.template.lua) }));
  const meta = t.metadata.map((m) => ({ ns: m.namespace, key: m.key, f: ref(m.template.lua) }));
  L.line(`local ${table} = {}`);
  templates.forEach((lua, i) => {
    L.line(`${table}[${i + 1}] = ${lua}`);
  });

  const needsBody = body !== undefined || t.uses.body || t.uses.json || t.parseAs === "AsJson";
  L.block(`function ${fn}(handle)`, () => {
    L.line("local H = handle:headers()");
    if (keep) keepRequestHeaders(L, keep);
    if (t.phase === "response" && (t.uses.requestHeaders.size > 0 || t.uses.allRequestHeaders)) {
      L.line(`local md = handle:streamInfo():dynamicMetadata():get(${luaString(KEPT_HEADERS_NAMESPACE)})`);
      L.line(`local C = { h = H, rq = (md and md[${luaString(KEPT_HEADERS_KEY)}]) or {} }`);
    } else {
      L.line("local C = { h = H }");
    }
    if (needsBody) {
      // body() suspends the script until the whole body is buffered; header objects taken before it
      // are no longer valid after, so the headers are taken again.
      L.line("local B = handle:body(true)");
      L.line("H = handle:headers()");
      L.line("C.h = H");
      L.line("local len = B:length()");
      L.line('C.body = len > 0 and B:getBytes(0, len) or ""');
      if (t.parseAs === "AsJson") {
        L.block('if C.body ~= "" then', () => {
          L.line("local ok, j = pcall(W.jsondecode, C.body)");
          L.block("if not ok then", () => {
            L.line("local msg = W.errmsg(j)");
            if (t.phase === "request") {
              L.line('handle:respond({ [":status"] = "400", ["content-type"] = "text/plain" }, msg)');
            } else {
              L.line('H:replace(":status", "400")');
              L.line('H:replace("content-type", "text/plain")');
              L.line("B:setBytes(msg)");
              L.line(
                'if H:get("content-length") ~= nil then H:replace("content-length", W.fmtnum(#msg)) end',
              );
            }
            L.line("return");
          });
          L.line("C.json = j");
          L.line('if W.kind(j) == "map" then C.vars = j end');
        });
      }
    }
    // Render everything against the unchanged message.
    if (body) L.line(`local nb = render(handle, ${body}, C, "body", false)`);
    for (const [i, s] of sets.entries()) {
      L.line(`local s${i + 1} = render(handle, ${s.f}, C, ${luaString(s.name)}, true)`);
    }
    for (const [i, a] of adds.entries()) {
      L.line(`local a${i + 1} = render(handle, ${a.f}, C, ${luaString(a.name)}, true)`);
    }
    for (const [i, m] of meta.entries()) {
      L.line(`local m${i + 1} = render(handle, ${m.f}, C, ${luaString(m.key)}, false)`);
    }
    // Then apply: body, set, add, remove, dynamic metadata.
    if (body) {
      L.block("if nb ~= nil then", () => {
        L.line("B:setBytes(nb)");
        L.line('if H:get("content-length") ~= nil then H:replace("content-length", W.fmtnum(#nb)) end');
      });
    }
    for (const [i, s] of sets.entries()) L.line(`setheader(H, ${luaString(s.name)}, s${i + 1})`);
    for (const [i, a] of adds.entries()) {
      L.line(`if a${i + 1} ~= nil and a${i + 1} ~= "" then H:add(${luaString(a.name)}, a${i + 1}) end`);
    }
    for (const r of t.remove) L.line(`H:remove(${luaString(r)})`);
    if (meta.length) {
      L.line("local dm = handle:streamInfo():dynamicMetadata()");
      for (const [i, m] of meta.entries()) {
        L.line(`if m${i + 1} ~= nil then dm:set(${luaString(m.ns)}, ${luaString(m.key)}, m${i + 1}) end`);
      }
    }
  });
}

interface KeepSpec {
  all: boolean;
  names: string[];
}

function keepRequestHeaders(L: Lines, keep: KeepSpec): void {
  L.line("local kept = {}");
  if (keep.all) {
    L.block("for k, v in pairs(H) do", () => {
      L.line("local name = string.lower(k)");
      L.line(
        'if kept[name] == nil then kept[name] = v else kept[name] = kept[name] .. (name == "cookie" and "; " or ", ") .. v end',
      );
    });
  } else {
    for (const name of keep.names) {
      L.line(
        `kept[${luaString(name)}] = W.hget(H, ${luaString(name)}, ${name === "cookie" ? '"; "' : '", "'})`,
      );
    }
  }
  L.line(
    `handle:streamInfo():dynamicMetadata():set(${luaString(KEPT_HEADERS_NAMESPACE)}, ${luaString(KEPT_HEADERS_KEY)}, kept)`,
  );
}

const HELPERS = `
local function render(handle, f, C, what, header)
  local ok, v = pcall(f, C)
  if ok and header then ok, v = pcall(W.headervalue, v) end
  if ok then return v end
  handle:logWarn("waymark transformation: " .. what .. ": " .. W.errmsg(v))
  return nil
end

local PSEUDO = { [":path"] = true, [":method"] = true, [":authority"] = true, [":scheme"] = true, [":status"] = true }
local function setheader(H, name, v)
  if v == nil then return end
  if v == "" then
    if not PSEUDO[name] then H:remove(name) end
  else
    H:replace(name, v)
  end
end
`;

/**
 * The part of every chunk that does not depend on the transformation: the template runtime
 * (LUA_PRELUDE) and the render/setheader helpers, about 15 KB. Kept apart from transformationProgram
 * so that it can be sent to Envoy once per filter instead of once per route (issue 19, defect 2).
 */
export const TRANSFORMATION_RUNTIME: string = `${LUA_PRELUDE}\n${HELPERS}`;

const CHUNK_HEADER = "-- Generated by Waymark from a TrafficPolicy transformation. Do not edit.";

/**
 * The part of a chunk that is the transformation's own: its compiled templates and its
 * envoy_on_request / envoy_on_response (undefined when it does nothing). It reads the locals W,
 * render and setheader that TRANSFORMATION_RUNTIME defines.
 */
export function transformationProgram(t: Transformation): string | undefined {
  const active = (s: SideTransformation | undefined) =>
    s !== undefined &&
    (s.body !== undefined ||
      s.set.length + s.add.length + s.remove.length + s.metadata.length > 0 ||
      s.parseAs === "AsJson");
  const req = active(t.request) ? t.request : undefined;
  const res = active(t.response) ? t.response : undefined;
  if (!req && !res) return undefined;
  const L = new Lines();
  let keep: KeepSpec | undefined;
  if (res && (res.uses.requestHeaders.size > 0 || res.uses.allRequestHeaders)) {
    keep = { all: res.uses.allRequestHeaders, names: [...res.uses.requestHeaders].sort() };
  }
  if (req) side(L, req, "Q", keep);
  else if (keep) {
    L.block("function envoy_on_request(handle)", () => {
      L.line("local H = handle:headers()");
      keepRequestHeaders(L, keep);
    });
  }
  if (res) side(L, res, "P", undefined);
  return `${L.out.join("\n")}\n`;
}

/** The Lua chunk for one transformation (undefined when it does nothing): runtime, then program. */
export function transformationChunk(t: Transformation): string | undefined {
  const program = transformationProgram(t);
  return program === undefined ? undefined : `${CHUNK_HEADER}\n${TRANSFORMATION_RUNTIME}\n${program}`;
}
