--- A metrics registry with the API of nginx-lua-prometheus (knyar's
-- `prometheus.lua`), for spec/openresty/production_spec.lua: that library
-- is not packaged by Debian and luarocks.org is not reachable from the test
-- machines, so the adapter (insync.openresty.prometheus) is tested against
-- this object of the same shape and behaviour:
--   local prometheus = require("openresty.registry_shape").init("prometheus_metrics")
--   prometheus:init_worker()
--   local c = prometheus:counter(name, help, { "label", ... })  -- also :gauge
--   c:inc(value, { "labelvalue", ... })   -- a counter refuses a negative value
--   g:set(value, { ... })
--   prometheus:collect()                  -- the text format, in a content handler
-- Values live in a lua_shared_dict under the series' full name
-- (`name{label="value",...}`), as the library keeps them; a misuse (wrong
-- number of label values, a negative counter increment, a duplicate
-- metric) is logged at [error] and counted in nginx_metric_errors_total, as
-- the library does, not raised.
local Registry = {}
Registry.__index = Registry

local registry = {}

--- `init(dict_name)`: the registry over lua_shared_dict dict_name.
function registry.init(dict_name)
  local dict = ngx.shared[dict_name]
  if not dict then error("Dictionary '" .. tostring(dict_name) .. "' does not seem to exist", 2) end
  local self = setmetatable({ dict = dict, metrics = {} }, Registry)
  self:counter("nginx_metric_errors_total", "Number of nginx-lua-prometheus errors")
  dict:add("nginx_metric_errors_total", 0)
  return self
end

function Registry.init_worker() end

function Registry:log_error(...)
  ngx.log(ngx.ERR, ...)
  self.dict:incr("nginx_metric_errors_total", 1, 0)
end

local function full_name(m, values)
  if #m.labels == 0 then return m.name end
  local parts = {}
  for i, l in ipairs(m.labels) do
    parts[i] = l .. '="' .. tostring(values[i]):gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
  end
  return m.name .. "{" .. table.concat(parts, ",") .. "}"
end

local function key_of(m, values)
  local n = values and #values or 0
  if n ~= #m.labels then
    m.parent:log_error(("inconsistent labels count, expected %d, got %d"):format(#m.labels, n))
    return nil
  end
  return full_name(m, values or {})
end

local function register(self, typ, name, help, labels)
  if not name:match("^[a-zA-Z_:][a-zA-Z0-9_:]*$") then
    return self:log_error("Metric name '" .. name .. "' is invalid")
  end
  for _, l in ipairs(labels or {}) do
    if l == "le" or not l:match("^[a-zA-Z_][a-zA-Z0-9_]*$") then
      return self:log_error("Metric '" .. name .. "' label name '" .. l .. "' is invalid")
    end
  end
  if self.metrics[name] then return self:log_error("Duplicate metric " .. name) end
  local m = { name = name, help = help, typ = typ, labels = labels or {}, parent = self }
  function m.inc(metric, value, values)
    if typ == "counter" and value < 0 then
      return self:log_error("Value should not be negative: ", name, " ", value)
    end
    local k = key_of(metric, values)
    if k then self.dict:incr(k, value, 0) end
  end
  if typ == "gauge" then
    function m.set(metric, value, values)
      local k = key_of(metric, values)
      if k then self.dict:safe_set(k, value) end
    end
  end
  self.metrics[name] = m
  return m
end

function Registry:counter(name, help, labels) return register(self, "counter", name, help, labels) end
function Registry:gauge(name, help, labels) return register(self, "gauge", name, help, labels) end

--- The text format: each metric's HELP and TYPE, then its series sorted.
function Registry:metric_data()
  local keys = self.dict:get_keys(0)
  table.sort(keys)
  local out, seen = {}, {}
  for _, key in ipairs(keys) do
    local short = key:match("^([^{]+)")
    local m = self.metrics[short]
    if m and not seen[short] then
      seen[short] = true
      out[#out + 1] = ("# HELP %s %s\n# TYPE %s %s\n"):format(short, m.help, short, m.typ)
    end
    out[#out + 1] = ("%s %s\n"):format(key, tostring(self.dict:get(key)))
  end
  return out
end

function Registry:collect()
  ngx.header["Content-Type"] = "text/plain"
  ngx.print(self:metric_data())
end

return registry
