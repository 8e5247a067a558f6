-- Test double of the parts of Envoy's Lua stream handle API that Waymark's generated code uses:
-- headers() (get, getNumValues, getAtIndex, add, replace, remove, pairs), body(always_wrap)
-- (length, getBytes, setBytes), streamInfo():dynamicMetadata() (get, set), respond(), log*().
-- Header names are case-insensitive; values keep their order, as in Envoy's header map.
local fake = {}

local function headermap(list)
  local entries = {}
  for i = 1, #list do entries[i] = { string.lower(list[i][1]), list[i][2] } end
  local h = {}
  function h:get(name)
    name = string.lower(name)
    local vals = {}
    for _, e in ipairs(entries) do if e[1] == name then vals[#vals + 1] = e[2] end end
    if #vals == 0 then return nil end
    return table.concat(vals, ",")
  end
  function h:getNumValues(name)
    name = string.lower(name)
    local n = 0
    for _, e in ipairs(entries) do if e[1] == name then n = n + 1 end end
    return n
  end
  function h:getAtIndex(name, index)
    name = string.lower(name)
    local n = 0
    for _, e in ipairs(entries) do
      if e[1] == name then
        if n == index then return e[2] end
        n = n + 1
      end
    end
    return nil
  end
  local function check(name, value)
    assert(type(name) == "string", "header name must be a string")
    if value ~= nil then
      assert(type(value) == "string", "header value must be a string")
      assert(not string.find(value, "[\r\n]") and not string.find(value, "\0", 1, true), "invalid header value")
    end
  end
  function h:add(name, value)
    check(name, value)
    entries[#entries + 1] = { string.lower(name), value }
  end
  function h:remove(name)
    name = string.lower(name)
    local kept = {}
    for _, e in ipairs(entries) do if e[1] ~= name then kept[#kept + 1] = e end end
    entries = kept
  end
  function h:replace(name, value)
    check(name, value)
    local lname = string.lower(name)
    for i, e in ipairs(entries) do
      if e[1] == lname then
        e[2] = value
        local kept = {}
        for j, f in ipairs(entries) do if j <= i or f[1] ~= lname then kept[#kept + 1] = f end end
        entries = kept
        return
      end
    end
    entries[#entries + 1] = { lname, value }
  end
  function h:entries() return entries end
  return setmetatable(h, {
    __pairs = function()
      local i = 0
      return function()
        i = i + 1
        local e = entries[i]
        if e then return e[1], e[2] end
      end
    end,
  })
end

local function buffer(s)
  local b = { data = s }
  function b:length() return #self.data end
  function b:getBytes(index, length)
    assert(index >= 0 and index + length <= #self.data, "getBytes out of range")
    return string.sub(self.data, index + 1, index + length)
  end
  function b:setBytes(v)
    assert(type(v) == "string", "setBytes needs a string")
    self.data = v
  end
  return b
end

-- As in Envoy, a header object taken before body() (which suspends the script) is dead after it.
local function scoped(hm)
  local view = { alive = true }
  local function method(name)
    return function(self, ...)
      if not view.alive then error("object used outside of proper scope", 2) end
      return hm[name](hm, ...)
    end
  end
  for _, name in ipairs({ "get", "getNumValues", "getAtIndex", "add", "remove", "replace" }) do view[name] = method(name) end
  return setmetatable(view, getmetatable(hm))
end

function fake.handle(headers, body, shared)
  local hm = headermap(headers)
  local h = { logs = {}, shared = shared }
  local buf = body and buffer(body) or nil
  local current
  function h:headers()
    current = current or scoped(hm)
    return current
  end
  function h:body(always)
    if current then current.alive = false; current = nil end
    if buf == nil and always then buf = buffer("") end
    h.bodyread = true
    return buf
  end
  function h:streamInfo()
    return {
      dynamicMetadata = function()
        return {
          set = function(_, ns, key, value)
            shared.metadata[ns] = shared.metadata[ns] or {}
            shared.metadata[ns][key] = value
          end,
          get = function(_, ns) return shared.metadata[ns] end,
        }
      end,
    }
  end
  function h:respond(hdrs, b)
    assert(not h.responded, "respond called twice")
    h.responded = { headers = hdrs, body = b }
  end
  local function log(level) return function(_, msg) h.logs[#h.logs + 1] = level .. ": " .. msg end end
  h.logTrace, h.logDebug, h.logInfo, h.logWarn, h.logErr, h.logCritical =
    log("trace"), log("debug"), log("info"), log("warn"), log("err"), log("critical")
  function h:result()
    return { headers = hm:entries(), body = buf and buf.data or nil, responded = h.responded, logs = h.logs }
  end
  return h
end

function fake.shared() return { metadata = {} } end

-- JSON with every byte outside printable ASCII as \u00XX, so the text crosses into JS unchanged.
local function enc(v)
  local t = type(v)
  if t == "string" then
    return '"' .. (string.gsub(v, '[^ !#-%[%]-~]', function(c) return string.format("\\u%04x", string.byte(c)) end)) .. '"'
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    if #v > 0 or next(v) == nil then
      local out = {}
      for i = 1, #v do out[i] = enc(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = enc(k) .. ":" .. enc(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  return "null"
end
fake.json = enc

return fake
