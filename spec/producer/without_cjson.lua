-- Run by cjson_spec.lua in a child interpreter whose C path holds insync's
-- build and nothing else, so lua-cjson cannot be found: what works without
-- it, and what says it needs it.
local insync = require "insync"
assert(not pcall(require, "cjson"), "lua-cjson is still on the C path: this checks nothing")

local m = insync.mock{ brokers = 1 }
m:create_topic("orders", 1, 1)
local conf = { ["bootstrap.servers"] = m:bootstrap_servers(), log_level = 0 }

conf.on_stats = function() end
local ok, err = pcall(insync.producer, conf)
print("on_stats:", ok, err)
conf.on_stats = nil

local p = insync.producer(conf)
local got
p:send({ topic = "orders", key = "k", value = "v" }, function(report, e) got = { report.offset, e } end)
p:flush(10000)
print("delivered:", got and got[1], got and got[2])
p:close(); m:close()

local c = insync.cluster{}
c:create_topic("orders")
c:producer{}:send({ topic = "orders" }, function(report) got = report.offset end)
c:run()
print("model:", got)
print("check done")
