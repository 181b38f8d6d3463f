-- Writes the configuration reference of the model from its schema (the
-- table in csrc/model/config.c, through core.model_keys()): the key tables
-- of docs/configuration.md and the range table of docs/limits.md, each
-- between the lines
--   <!-- BEGIN config_doc NAME ... -->  and  <!-- END config_doc NAME -->
--
--   make config-doc                       rewrite them (needs `make`)
--   lua5.4 tools/config_doc.lua --check   exit 1 when one is stale
--
-- spec/model/config_doc_spec.lua fails when a file is stale: a key added
-- or changed in config.c shows in the docs by running `make config-doc`.
-- Also loaded by that spec: dofile returns { render, update, FILES }.

local M = {}

M.FILES = { "docs/configuration.md", "docs/limits.md" }

-- An integer as the docs write it, alike on every Lua (Long.MAX_VALUE is a
-- double on Lua 5.1 and LuaJIT).
local function int(v)
  if v > 9.2e18 then return "9223372036854775807" end
  if v < -9.2e18 then return "-9223372036854775808" end
  return ("%d"):format(v)
end

local function default(row)
  if row.type == "bool" then return row.default == 1 and "true" or "false" end
  if row.type == "enum" then
    for _, nv in ipairs(row.values) do
      if nv[2] == row.default then return "`" .. nv[1] .. "`" end
    end
  end
  if row.default > 9.2e18 then return "Long.MAX_VALUE" end
  if row.default < row.min or row.default > row.max then return "not set" end
  return int(row.default)
end

local function range(row)
  if row.type == "bool" then return "true, false" end
  if row.type == "enum" then
    local names = {}
    for i, nv in ipairs(row.values) do names[i] = "`" .. nv[1] .. "`" end
    return table.concat(names, ", ")
  end
  if row.min < -9.2e18 and row.max > 9.2e18 then return "any integer" end
  local r = int(row.min) .. " to " .. int(row.max)
  if row.type == "number" then r = r .. " (a fraction is rounded down)" end
  return r
end

local function code(s) return s and "`" .. s .. "`" or "" end

--- The generated sections, by name, from the rows of core.model_keys().
function M.render(keys)
  local by = { cluster = {}, broker = {}, producer = {} }
  for _, row in ipairs(keys) do table.insert(by[row.scope], row) end
  local out = {}

  local t = { "| Option | Default | Values | What it does |", "|---|---|---|---|" }
  for _, row in ipairs(by.cluster) do
    t[#t + 1] = ("| %s | %s | %s | %s |"):format(code(row.name), default(row), range(row), row.doc)
  end
  out.cluster = table.concat(t, "\n")

  t = { "| Key | In a topic's `config` | Default | Values | What it does |", "|---|---|---|---|---|" }
  for _, row in ipairs(by.broker) do
    t[#t + 1] = ("| %s | %s | %s | %s | %s |"):format(code(row.name), code(row.topic),
      default(row), range(row), row.doc)
  end
  out.broker = table.concat(t, "\n")

  t = { "| Key | Also | Default | Values | What it does |", "|---|---|---|---|---|" }
  for _, row in ipairs(by.producer) do
    t[#t + 1] = ("| %s | %s | %s | %s | %s |"):format(code(row.name), code(row.alias),
      default(row), range(row), row.doc)
  end
  out.producer = table.concat(t, "\n")

  t = { "| Setting | Range |", "|---|---|" }
  for _, scope in ipairs({ "cluster", "broker", "producer" }) do
    for _, row in ipairs(by[scope]) do
      if row.type == "int" or row.type == "number" then
        t[#t + 1] = ("| %s | %s |"):format(code(row.name), range(row))
      end
    end
  end
  out.ranges = table.concat(t, "\n")
  return out
end

--- @p text with each generated section replaced by its rendering;
-- raises naming a section a BEGIN line names that has no END line.
function M.update(text, sections)
  return (text:gsub("(<!%-%- BEGIN config_doc (%w+)[^\n]*%-%->\n)(.-)(<!%-%- END config_doc (%w+) %-%->)",
    function(begin, name, _, finish, name2)
      if name ~= name2 or not sections[name] then
        error(("config_doc: section %s: no END line or no such section"):format(name))
      end
      return begin .. sections[name] .. "\n" .. finish
    end))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function main(check)
  local sections = M.render(require("insync.core").model_keys())
  local stale = {}
  for _, path in ipairs(M.FILES) do
    local old = read(path)
    local new = M.update(old, sections)
    if new ~= old then
      if check then
        stale[#stale + 1] = path
      else
        local f = assert(io.open(path, "wb"))
        f:write(new)
        f:close()
        print("config_doc: wrote " .. path)
      end
    end
  end
  if #stale > 0 then
    io.stderr:write("config_doc: stale (run make config-doc): " .. table.concat(stale, ", ") .. "\n")
    os.exit(1)
  end
end

if arg and arg[0] and arg[0]:match("config_doc%.lua$") then
  main(arg[1] == "--check")
end

return M
