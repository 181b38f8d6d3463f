-- Run by undelivered_spec.lua in a process of its own, so that the spec can
-- read its stderr: one callback-less send that fails (no on_error), one
-- that succeeds.  The spec checks that stderr has exactly the one line.
local insync = require "insync"

local c = insync.cluster{ brokers = 3 }
c:create_topic("orders", { partitions = 1, replication_factor = 3 })
local p = c:producer{}
assert(p:send{ topic = "orders", partition = 4, value = "lost?" })
assert(p:send{ topic = "orders", partition = 0, value = "fine" })
assert(c:run())
assert(c:audit().acked == 1 and c:audit().failed == 1)
io.stdout:write("check done\n")
