-- The configuration reference in docs/ is generated from the model's
-- schema (csrc/model/config.c) by tools/config_doc.lua: it fails while a
-- key, default, range or doc line there differs from what the docs say.
local core = require "insync.core"
local insync = require "insync"
local gen = dofile("tools/config_doc.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("the configuration reference", function()
  local keys = core.model_keys()

  it("in docs/ is what the schema says (else run make config-doc)", function()
    local sections = gen.render(keys)
    for _, path in ipairs(gen.FILES) do
      local text = read(path)
      assert.are.equal(gen.update(text, sections), text, path .. " is stale: run make config-doc")
    end
  end)

  it("names every key insync.cluster, create_topic and producer take, with its default", function()
    local doc = read("docs/configuration.md")
    for _, row in ipairs(keys) do
      assert.truthy(doc:find("| `" .. row.name .. "` |", 1, true), row.name)
      if row.alias then assert.truthy(doc:find("`" .. row.alias .. "`", 1, true), row.alias) end
      if row.topic then assert.truthy(doc:find("`" .. row.topic .. "`", 1, true), row.topic) end
    end
    -- and the keys the Lua side accepts are the schema's
    local modelled = {}
    for _, k in ipairs(require("insync.cluster").modelled_producer_keys()) do modelled[k] = true end
    for _, row in ipairs(keys) do
      if row.scope == "producer" then
        assert.is_true(modelled[row.name], row.name)
        if row.alias then assert.is_true(modelled[row.alias], row.alias) end
      end
    end
  end)

  it("gives the defaults the model runs with", function()
    local c = insync.cluster{}
    c:create_topic("t")   -- num.partitions, default.replication.factor
    local part = c:partition("t", 0)
    local default = {}
    for _, row in ipairs(keys) do default[row.name] = row.default end
    assert.are.equal(default["default.replication.factor"], #part.assignment)
    assert.has_error(function() c:partition("t", default["num.partitions"]) end,
      ("partition: partition: expected 0..%d, got %d"):format(default["num.partitions"] - 1,
        default["num.partitions"]))
    assert.truthy(c:broker(default["brokers"]))
    assert.has_error(function() c:broker(default["brokers"] + 1) end)
  end)
end)
