-- Run by undelivered_spec.lua in a process of its own, so that the spec can
-- read its stderr: one callback-less send that fails, no on_error, and one
-- that succeeds.  The spec checks that stderr has exactly the one line.
local insync = require "insync"

local m = insync.mock{ brokers = 1 }
m:create_topic("orders", 1, 1)
local p = insync.producer{ ["bootstrap.servers"] = m:bootstrap_servers(), retries = 0 }
m:push_errors("Produce", { "NOT_ENOUGH_REPLICAS" })
assert(p:send{ topic = "orders", partition = 0, value = "lost?" })
assert(p:flush(20000) == 0)
assert(p:send{ topic = "orders", partition = 0, value = "fine" })
assert(p:flush(20000) == 0)
p:close()
m:close()
io.stdout:write("check done\n")
