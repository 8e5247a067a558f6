// One transformation → one Lua program for Envoy's Lua filter, run by the filter's shared code (the
// template runtime, once per filter; see TRANSFORMATION_SHARED_CODE): the compiled templates and the
// request / response handlers applying kgateway's semantics:
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
  const fn = t.phase === "request" ? "R.request" : "R.response";
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
      // An upgrade (WebSocket, CONNECT) is never buffered: its "body" is the tunnel's byte stream,
      // which has no end, so body() would hold the stream forever. Envoy's guidance for its own
      // buffering filters is the same (keep buffering out of upgrades). Header transformations still
      // apply; templates see an empty body and the body itself is left alone.
      L.line("local B = nil");
      L.line('C.body = ""');
      L.block(`if not ${t.phase === "request" ? "upgraderequest" : "upgraderesponse"}(H) then`, () => {
        // body() suspends the script until the whole body is buffered; header objects taken before
        // it are no longer valid after, so the headers are taken again.
        L.line("B = handle:body(true)");
        L.line("H = handle:headers()");
        L.line("C.h = H");
        L.line("local len = B:length()");
        L.line('C.body = len > 0 and B:getBytes(0, len) or ""');
      });
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
      L.block("if nb ~= nil and B ~= nil then", () => {
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
-- An upgrade as a filter sees it: CONNECT, or a connection header naming upgrade with an upgrade
-- header (Envoy shows HTTP/2 extended CONNECT to filters in this HTTP/1 form too); its answer is 101.
local function upgraderequest(H)
  if H:get(":method") == "CONNECT" then return true end
  local c = H:get("connection")
  return c ~= nil and H:get("upgrade") ~= nil and string.find(string.lower(c), "upgrade", 1, true) ~= nil
end
local function upgraderesponse(H)
  return H:get(":status") == "101"
end

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

/** The names a program receives from the runtime, in order (its vararg). */
const PROGRAM_ARGS = "W, render, setheader, upgraderequest, upgraderesponse, S, T, concat";

/** Programs the shared code keeps compiled per Lua state (one per worker) before starting afresh. */
const PROGRAM_CACHE_SIZE = 10_000;

/** Where a route's metadata (filter_metadata of the filter's name) holds its program. */
export const PROGRAM_KEY = "program";

/**
 * The part of every transformation that does not depend on it: the template runtime (LUA_PRELUDE)
 * and the render/setheader helpers, about 15 KB.
 */
export const TRANSFORMATION_RUNTIME: string = `${LUA_PRELUDE}\n${HELPERS}`;

/**
 * The Lua filter's shared code (issue 19, defect 2): the runtime once, and handlers that run the
 * program of the matched route. Envoy gives each source code its own Lua state, and a per-route
 * inline chunk could not reach this one's runtime, so a route carries no code of its own: its
 * LuaPerRoute names this code and its metadata holds the program as a string, compiled here once
 * per Lua state and kept by its text. An RDS update does not renew the filter's Lua states, so the
 * cache is bounded: when full it starts again empty (live programs are compiled again on their next
 * request). Not a weak table: a collected program would be compiled again after every GC cycle.
 * The program is generated by transformationProgram, so it is no more user-controlled than an inline
 * chunk: user text reaches it only through luaString.
 */
export const TRANSFORMATION_SHARED_CODE: string = `-- Generated by Waymark: the TrafficPolicy transformation runtime. Do not edit.
${TRANSFORMATION_RUNTIME}
local PROGRAMS, NPROGRAMS = {}, 0
local compile = loadstring or load
local function program(handle)
  local md = handle:metadata()
  local src = md and md:get(${luaString(PROGRAM_KEY)})
  if type(src) ~= "string" then return nil end
  local p = PROGRAMS[src]
  if p == nil then
    local f, err = compile(src, "=transformation")
    if not f then
      handle:logErr("waymark transformation: " .. tostring(err))
      return nil
    end
    p = f(${PROGRAM_ARGS})
    if NPROGRAMS >= ${PROGRAM_CACHE_SIZE} then PROGRAMS, NPROGRAMS = {}, 0 end
    PROGRAMS[src], NPROGRAMS = p, NPROGRAMS + 1
  end
  return p
end

function envoy_on_request(handle)
  local p = program(handle)
  if p and p.request then p.request(handle) end
end

function envoy_on_response(handle)
  local p = program(handle)
  if p and p.response then p.response(handle) end
end
`;

const CHUNK_HEADER = "-- Generated by Waymark from a TrafficPolicy transformation. Do not edit.";

/**
 * The part of a chunk that is the transformation's own (undefined when it does nothing): the body
 * of a Lua function that takes the runtime's helpers (PROGRAM_ARGS) as its vararg and
 * returns { request = handler, response = handler } (either may be absent), holding the compiled
 * templates. This is all a route carries (see TRANSFORMATION_SHARED_CODE).
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
  L.line(`local ${PROGRAM_ARGS} = ...`);
  L.line("local R = {}");
  let keep: KeepSpec | undefined;
  if (res && (res.uses.requestHeaders.size > 0 || res.uses.allRequestHeaders)) {
    keep = { all: res.uses.allRequestHeaders, names: [...res.uses.requestHeaders].sort() };
  }
  if (req) side(L, req, "Q", keep);
  else if (keep) {
    L.block("function R.request(handle)", () => {
      L.line("local H = handle:headers()");
      keepRequestHeaders(L, keep);
    });
  }
  if (res) side(L, res, "P", undefined);
  L.line("return R");
  return `${L.out.join("\n")}\n`;
}

/**
 * A self-contained chunk for one transformation (undefined when it does nothing): the runtime, the
 * program, and its handlers as envoy_on_request / envoy_on_response. Used where one chunk stands
 * alone: a Gateway-level transformation (per virtual host, not per route) and the Lua VM tests.
 */
export function transformationChunk(t: Transformation): string | undefined {
  const program = transformationProgram(t);
  if (program === undefined) return undefined;
  return `${CHUNK_HEADER}
${TRANSFORMATION_RUNTIME}
local R = (function(...)
${program}end)(${PROGRAM_ARGS})
if R.request then function envoy_on_request(handle) R.request(handle) end end
if R.response then function envoy_on_response(handle) R.response(handle) end end
`;
}
