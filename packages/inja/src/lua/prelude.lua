-- Waymark template runtime (Lua 5.1 / LuaJIT, also runs on Lua 5.2-5.4). Generated template
-- functions call only the fields of W below; template text and request content are always data.
-- Values: string, number, boolean, nil (undefined), NULL (none), arrays (metatable ARR, field n)
-- and objects (metatable OBJ). Render errors are raised as {waymark = message}.
local W = {}
local type, pairs, error, next, rawget = type, pairs, error, next, rawget
local setmetatable, getmetatable, tonumber, select = setmetatable, getmetatable, tonumber, select
local sbyte, schar, ssub, sfind, sformat, slower = string.byte, string.char, string.sub, string.find, string.format, string.lower
local concat, sort, floor = table.concat, table.sort, math.floor
local NULL = setmetatable({}, { __metatable = false })
local ARR = { __metatable = false }
local OBJ = { __metatable = false }
W.NULL = NULL

local function fail(msg)
  error({ waymark = msg }, 0)
end
W.fail = fail

-- Metatables are protected (__metatable = false), so arrays are told apart (and their length kept)
-- by a weak side table.
local ISARR = setmetatable({}, { __mode = "k" })
local function newarr(n)
  local t = setmetatable({}, ARR)
  ISARR[t] = n
  return t
end
local function newobj()
  return setmetatable({}, OBJ)
end
local function kind(v)
  if v == nil then return "undefined" end
  if v == NULL then return "none" end
  local t = type(v)
  if t ~= "table" then return t end
  if ISARR[v] ~= nil then return "array" end
  return "map"
end
W.kind = kind

local function fmtnum(n)
  if n ~= n or n == 1 / 0 or n == -1 / 0 then fail("number out of range") end
  if n == floor(n) and n > -9007199254740992 and n < 9007199254740992 then
    return sformat("%d", n)
  end
  return sformat("%.14g", n)
end
W.fmtnum = fmtnum

local function jsonescape(s)
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local j = sfind(s, '[%c"\\]', i)
    if not j then
      n = n + 1; out[n] = ssub(s, i)
      break
    end
    if j > i then n = n + 1; out[n] = ssub(s, i, j - 1) end
    local c = sbyte(s, j)
    local e
    if c == 34 then e = '\\"'
    elseif c == 92 then e = "\\\\"
    elseif c == 10 then e = "\\n"
    elseif c == 13 then e = "\\r"
    elseif c == 9 then e = "\\t"
    elseif c == 8 then e = "\\b"
    elseif c == 12 then e = "\\f"
    elseif c < 32 then e = sformat("\\u%04x", c)
    else e = schar(c) end
    n = n + 1; out[n] = e
    i = j + 1
  end
  return concat(out, "", 1, n)
end
W.jsonescape = jsonescape

local repr
local function str(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return fmtnum(v) end
  if t == "boolean" then return v and "true" or "false" end
  if v == nil then return "" end
  if v == NULL then return "none" end
  return repr(v)
end
W.str = str

local function sortedkeys(o)
  local keys, n = {}, 0
  for k in pairs(o) do n = n + 1; keys[n] = k end
  sort(keys)
  return keys, n
end

repr = function(v)
  local t = type(v)
  if t == "string" then return '"' .. jsonescape(v) .. '"' end
  if t ~= "table" or v == NULL then return str(v) end
  local out = {}
  if ISARR[v] ~= nil then
    for i = 1, ISARR[v] do out[i] = repr(v[i]) end
    return "[" .. concat(out, ", ") .. "]"
  end
  local keys, n = sortedkeys(v)
  for i = 1, n do out[i] = repr(keys[i]) .. ": " .. repr(v[keys[i]]) end
  return "{" .. concat(out, ", ") .. "}"
end

local function truthy(v)
  if v == nil or v == false or v == NULL or v == "" or v == 0 then return false end
  if type(v) == "table" then
    local n = ISARR[v]
    if n ~= nil then return n > 0 end
    return next(v) ~= nil
  end
  return true
end
W.truthy = truthy

function W.list(n, ...)
  local t = newarr(n)
  for i = 1, n do
    local x = select(i, ...)
    if x == nil then x = NULL end
    t[i] = x
  end
  return t
end

local function eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or a == NULL or b == NULL then return false end
  local na, nb = ISARR[a], ISARR[b]
  if na ~= nil or nb ~= nil then
    if na ~= nb then return false end
    for i = 1, na do if not eq(a[i], b[i]) then return false end end
    return true
  end
  for k, x in pairs(a) do if not eq(x, rawget(b, k)) then return false end end
  for k in pairs(b) do if rawget(a, k) == nil then return false end end
  return true
end
W.eq = eq

local function cmp(a, b)
  local ta, tb = type(a), type(b)
  if (ta == "number" and tb == "number") or (ta == "string" and tb == "string") then return true end
  fail("cannot compare " .. kind(a) .. " with " .. kind(b))
end
function W.lt(a, b) cmp(a, b); return a < b end
function W.le(a, b) cmp(a, b); return a <= b end
function W.gt(a, b) cmp(a, b); return a > b end
function W.ge(a, b) cmp(a, b); return a >= b end

local function nums(a, b, op)
  if type(a) ~= "number" or type(b) ~= "number" then
    fail("cannot apply " .. op .. " to " .. kind(a) .. " and " .. kind(b))
  end
end
function W.add(a, b)
  if type(a) == "string" and type(b) == "string" then return a .. b end
  nums(a, b, "+")
  return a + b
end
function W.sub(a, b) nums(a, b, "-"); return a - b end
function W.mul(a, b) nums(a, b, "*"); return a * b end
function W.div(a, b)
  nums(a, b, "/")
  if b == 0 then fail("division by zero") end
  return a / b
end
function W.idiv(a, b)
  nums(a, b, "//")
  if b == 0 then fail("division by zero") end
  return floor(a / b) + 0.0
end
function W.mod(a, b)
  nums(a, b, "%")
  if b == 0 then fail("division by zero") end
  return a - floor(a / b) * b
end
function W.pow(a, b) nums(a, b, "**"); return a ^ b end
function W.cat(a, b) return str(a) .. str(b) end
function W.neg(a)
  if type(a) ~= "number" then fail("cannot negate " .. kind(a)) end
  return -a
end
function W.pos(a)
  if type(a) ~= "number" then fail("cannot apply unary + to " .. kind(a)) end
  return a
end

function W.contains(container, item)
  local t = type(container)
  if t == "string" then
    if type(item) ~= "string" then fail("'in' on a string needs a string, got " .. kind(item)) end
    return sfind(container, item, 1, true) ~= nil
  end
  if t == "table" and container ~= NULL then
    local n = ISARR[container]
    if n ~= nil then
      for i = 1, n do if eq(container[i], item) then return true end end
      return false
    end
    return type(item) == "string" and rawget(container, item) ~= nil
  end
  fail("cannot use 'in' on " .. kind(container))
end

function W.get(o, k)
  if o == nil then fail("cannot read an attribute of an undefined value") end
  if type(o) ~= "table" or o == NULL then return nil end
  local n = ISARR[o]
  if n ~= nil then
    if type(k) ~= "number" or k ~= floor(k) then return nil end
    if k < 0 then k = n + k end
    if k >= 0 and k < n then return o[k + 1] end
    return nil
  end
  if type(k) ~= "string" then return nil end
  return rawget(o, k)
end

function W.var(C, name)
  local v = C.vars
  if v == nil then return nil end
  return rawget(v, name)
end

-- Iteration: arrays in order, maps by sorted key; undefined iterates as empty.
function W.items(v)
  if v == nil then return {}, 0 end
  if type(v) == "table" and v ~= NULL then
    local n = ISARR[v]
    if n ~= nil then return v, n end
    return sortedkeys(v)
  end
  fail("cannot iterate over " .. kind(v))
end

local function argstr(v, fname)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return fmtnum(v) end
  fail(fname .. "() expects a string, got " .. kind(v))
end
local function argcount(v, fname, what)
  if type(v) ~= "number" or v ~= floor(v) or v < 0 or v > 9007199254740992 then
    fail(fname .. "() expects a non-negative integer " .. what .. ", got " .. str(v))
  end
  return v
end

-- Envoy's header map (get/getNumValues/getAtIndex): several values are joined with ", ".
local function hget(h, name, sep)
  if h == nil then return "" end
  local n = h:getNumValues(name)
  if n == 0 then return "" end
  if n == 1 then return h:get(name) or "" end
  local parts = {}
  for i = 0, n - 1 do parts[i + 1] = h:getAtIndex(name, i) or "" end
  return concat(parts, sep or ", ")
end
W.hget = hget

-- C.rq, in responses: the request headers kept from the request (lower-cased name -> value).
local function reqheader(C, name, sep)
  local rq = C.rq
  if rq ~= nil then return rq[slower(name)] or "" end
  return hget(C.h, name, sep)
end

function W.f_header(C, name) return hget(C.h, argstr(name, "header")) end
function W.f_request_header(C, name) return reqheader(C, argstr(name, "request_header")) end

local function cookie(C, name, fold)
  local header = reqheader(C, "cookie", "; ")
  if fold then name = slower(name) end
  local i, len = 1, #header
  while i <= len do
    local j = sfind(header, ";", i, true) or (len + 1)
    local part = ssub(header, i, j - 1)
    local eqpos = sfind(part, "=", 1, true)
    if eqpos then
      local k = ssub(part, 1, eqpos - 1):match("^%s*(.-)%s*$")
      if fold then k = slower(k) end
      if k == name then return (ssub(part, eqpos + 1):match("^%s*(.-)%s*$")) end
    end
    i = j + 1
  end
  return ""
end
function W.f_get_cookie(C, name) return cookie(C, argstr(name, "get_cookie"), false) end
function W.f_get_cookie_i(C, name) return cookie(C, argstr(name, "get_cookie_i"), true) end
function W.f_body(C) return C.body or "" end
function W.f_context(C) return C.json end
function W.f_env(C, name)
  local v = W.getenv(argstr(name, "env"))
  if type(v) ~= "string" then return "" end
  return v
end

function W.f_substring(C, s, start, len)
  s = argstr(s, "substring")
  start = argcount(start, "substring", "start")
  local n = #s
  if start >= n then return "" end
  if len ~= nil then
    len = argcount(len, "substring", "length")
    if start + len <= n then return ssub(s, start + 1, start + len) end
  end
  return ssub(s, start + 1)
end

-- base64 -------------------------------------------------------------------------------------
local STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function decodetable(alphabet)
  local t = {}
  for i = 1, 64 do t[sbyte(alphabet, i)] = i - 1 end
  return t
end
local DSTD, DURL = decodetable(STD), decodetable(URL)

local function b64encode(s, alphabet, pad)
  local out, n, len = {}, 0, #s
  for i = 1, len - 2, 3 do
    local a, b, c = sbyte(s, i, i + 2)
    local v = a * 65536 + b * 256 + c
    local c1 = floor(v / 262144)
    local c2 = floor(v / 4096) % 64
    local c3 = floor(v / 64) % 64
    local c4 = v % 64
    n = n + 1
    out[n] = ssub(alphabet, c1 + 1, c1 + 1) .. ssub(alphabet, c2 + 1, c2 + 1)
      .. ssub(alphabet, c3 + 1, c3 + 1) .. ssub(alphabet, c4 + 1, c4 + 1)
  end
  local rest = len % 3
  if rest > 0 then
    local a, b = sbyte(s, len - rest + 1, len)
    local v = a * 65536 + (b or 0) * 256
    local c1 = floor(v / 262144)
    local c2 = floor(v / 4096) % 64
    local c3 = floor(v / 64) % 64
    n = n + 1
    if rest == 1 then
      out[n] = ssub(alphabet, c1 + 1, c1 + 1) .. ssub(alphabet, c2 + 1, c2 + 1) .. (pad and "==" or "")
    else
      out[n] = ssub(alphabet, c1 + 1, c1 + 1) .. ssub(alphabet, c2 + 1, c2 + 1)
        .. ssub(alphabet, c3 + 1, c3 + 1) .. (pad and "=" or "")
    end
  end
  return concat(out, "", 1, n)
end
W.b64encode = function(s) return b64encode(s, STD, true) end

local function validutf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = sbyte(s, i)
    local need, lo, hi = 0, 128, 191
    if c < 128 then
      need = 0
    elseif c >= 194 and c <= 223 then
      need = 1
    elseif c >= 224 and c <= 239 then
      need = 2
      if c == 224 then lo = 160 elseif c == 237 then hi = 159 end
    elseif c >= 240 and c <= 244 then
      need = 3
      if c == 240 then lo = 144 elseif c == 244 then hi = 143 end
    else
      return false
    end
    for k = 1, need do
      local d = sbyte(s, i + k)
      if d == nil then return false end
      if k == 1 then
        if d < lo or d > hi then return false end
      elseif d < 128 or d > 191 then
        return false
      end
    end
    i = i + need + 1
  end
  return true
end
W.validutf8 = validutf8

-- Decodes padded or unpadded input; nil when it is not valid base64 of this alphabet.
local function b64decode(s, dtab)
  local len = #s
  if len % 4 == 0 and len > 0 then
    if ssub(s, len - 1) == "==" then len = len - 2 elseif ssub(s, len) == "=" then len = len - 1 end
  end
  if len % 4 == 1 then return nil end
  local out, n = {}, 0
  local acc, bits = 0, 0
  for i = 1, len do
    local v = dtab[sbyte(s, i)]
    if v == nil then return nil end
    acc = acc * 64 + v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local p = 2 ^ bits
      local byte = floor(acc / p)
      acc = acc - byte * p
      n = n + 1
      out[n] = schar(byte)
    end
  end
  if acc ~= 0 then return nil end -- non-canonical trailing bits
  return concat(out, "", 1, n)
end

local function decodeutf8(s, dtab)
  local d = b64decode(s, dtab)
  if d == nil or not validutf8(d) then return "" end
  return d
end
function W.f_base64_encode(C, s) return b64encode(argstr(s, "base64_encode"), STD, true) end
function W.f_base64url_encode(C, s) return b64encode(argstr(s, "base64url_encode"), URL, true) end
function W.f_base64_decode(C, s) return decodeutf8(argstr(s, "base64_decode"), DSTD) end
function W.f_base64url_decode(C, s) return decodeutf8(argstr(s, "base64url_decode"), DURL) end

local function replaceall(s, pat, rep)
  if pat == "" then return s end
  local out, n, i = {}, 0, 1
  while true do
    local a, b = sfind(s, pat, i, true)
    if not a then break end
    n = n + 1; out[n] = ssub(s, i, a - 1)
    n = n + 1; out[n] = rep
    i = b + 1
  end
  n = n + 1; out[n] = ssub(s, i)
  return concat(out, "", 1, n)
end

-- 128 random bits as unpadded base64, new on every call (never computed at load time).
local random = math.random
function W.random128()
  local b = {}
  for i = 1, 16 do b[i] = schar(random(0, 255)) end
  return b64encode(concat(b), STD, false)
end
function W.f_replace_with_random(C, s, pat)
  return replaceall(argstr(s, "replace_with_random"), argstr(pat, "replace_with_random"), W.random128())
end
function W.f_replace_with_string(C, s, pat, rep)
  return replaceall(argstr(s, "replace_with_string"), argstr(pat, "replace_with_string"), argstr(rep, "replace_with_string"))
end
function W.f_raw_string(C, s) return jsonescape(argstr(s, "raw_string")) end

-- JSON ---------------------------------------------------------------------------------------
local MAX_JSON_DEPTH = 64
local ESC = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t" }

local function utf8char(cp)
  if cp < 128 then return schar(cp) end
  if cp < 2048 then return schar(192 + floor(cp / 64), 128 + cp % 64) end
  if cp < 65536 then return schar(224 + floor(cp / 4096), 128 + floor(cp / 64) % 64, 128 + cp % 64) end
  return schar(240 + floor(cp / 262144), 128 + floor(cp / 4096) % 64, 128 + floor(cp / 64) % 64, 128 + cp % 64)
end

function W.jsondecode(s)
  local pos, len = 1, #s
  local function bad(what) fail("json parsing error at byte " .. pos .. ": " .. what) end
  local function ws()
    pos = sfind(s, "[^ \t\r\n]", pos) or (len + 1)
  end
  local function hex4()
    local h = ssub(s, pos, pos + 3)
    if not sfind(h, "^%x%x%x%x$") then bad("invalid \\u escape") end
    pos = pos + 4
    return tonumber(h, 16)
  end
  local function jstring()
    pos = pos + 1
    local out, n = {}, 0
    while true do
      local j = sfind(s, '["\\]', pos)
      if not j then bad("unterminated string") end
      local chunk = ssub(s, pos, j - 1)
      for k = 1, #chunk do
        if sbyte(chunk, k) < 32 then pos = pos + k - 1; bad("control character in string") end
      end
      n = n + 1; out[n] = chunk
      pos = j + 1
      if sbyte(s, j) == 34 then return concat(out, "", 1, n) end
      local e = sbyte(s, pos)
      if e == 117 then
        pos = pos + 1
        local cp = hex4()
        if cp >= 55296 and cp <= 56319 then
          if ssub(s, pos, pos + 1) ~= "\\u" then bad("lone surrogate") end
          pos = pos + 2
          local lo = hex4()
          if lo < 56320 or lo > 57343 then bad("invalid surrogate pair") end
          cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
        elseif cp >= 56320 and cp <= 57343 then
          bad("lone surrogate")
        end
        n = n + 1; out[n] = utf8char(cp)
      elseif e ~= nil and ESC[e] then
        n = n + 1; out[n] = ESC[e]
        pos = pos + 1
      else
        bad("invalid escape")
      end
    end
  end
  local value
  value = function(depth)
    if depth > MAX_JSON_DEPTH then bad("nested too deeply") end
    ws()
    local c = sbyte(s, pos)
    if c == 123 then
      pos = pos + 1
      local o = newobj()
      ws()
      if sbyte(s, pos) == 125 then pos = pos + 1; return o end
      while true do
        ws()
        if sbyte(s, pos) ~= 34 then bad("expected a string key") end
        local k = jstring()
        ws()
        if sbyte(s, pos) ~= 58 then bad("expected ':'") end
        pos = pos + 1
        o[k] = value(depth + 1)
        ws()
        local d = sbyte(s, pos)
        pos = pos + 1
        if d == 125 then return o end
        if d ~= 44 then pos = pos - 1; bad("expected ',' or '}'") end
      end
    elseif c == 91 then
      pos = pos + 1
      local items, n = {}, 0
      ws()
      if sbyte(s, pos) == 93 then pos = pos + 1; return newarr(0) end
      while true do
        n = n + 1
        items[n] = value(depth + 1)
        ws()
        local d = sbyte(s, pos)
        pos = pos + 1
        if d == 93 then
          local a = newarr(n)
          for i = 1, n do a[i] = items[i] end
          return a
        end
        if d ~= 44 then pos = pos - 1; bad("expected ',' or ']'") end
      end
    elseif c == 34 then
      return jstring()
    elseif c == 116 and ssub(s, pos, pos + 3) == "true" then
      pos = pos + 4; return true
    elseif c == 102 and ssub(s, pos, pos + 4) == "false" then
      pos = pos + 5; return false
    elseif c == 110 and ssub(s, pos, pos + 3) == "null" then
      pos = pos + 4; return NULL
    else
      local a, b = sfind(s, "^-?%d+", pos)
      if not a then bad("unexpected character") end
      local digits = ssub(s, a, b)
      if sfind(digits, "^-?0%d") then bad("leading zero") end
      local e = b
      local fa, fb = sfind(s, "^%.%d+", e + 1)
      if fa then e = fb elseif sbyte(s, e + 1) == 46 then bad("invalid number") end
      local xa, xb = sfind(s, "^[eE][-+]?%d+", e + 1)
      if xa then e = xb elseif sfind(s, "^[eE]", e + 1) then bad("invalid number") end
      local v = tonumber(ssub(s, a, e)) + 0.0
      pos = e + 1
      if v ~= v or v == 1 / 0 or v == -1 / 0 then bad("number out of range") end
      return v
    end
  end
  local v = value(0)
  ws()
  if pos <= len then bad("trailing characters") end
  return v
end

-- A header value must not carry CR, LF or NUL; surrounding whitespace is dropped.
function W.headervalue(v)
  if sfind(v, "[\r\n%z]") or sfind(v, "\0", 1, true) then fail("header value contains CR, LF or NUL") end
  return (v:match("^[ \t]*(.-)[ \t]*$"))
end

function W.errmsg(e)
  if type(e) == "table" and type(e.waymark) == "string" then return e.waymark end
  return "internal error: " .. tostring(e)
end

W.getenv = os and os.getenv or function() return nil end

do
  local seed = 0
  local ok, f = pcall(function() return io and io.open and io.open("/dev/urandom", "rb") end)
  if ok and f then
    local b = f:read(6)
    f:close()
    if b then for i = 1, #b do seed = seed * 256 + sbyte(b, i) end end
  end
  if seed == 0 then seed = floor(((os and os.time and os.time() or 0) * 1000 + (os and os.clock and os.clock() or 0) * 1000000) % 2147483647) end
  math.randomseed(seed)
end
