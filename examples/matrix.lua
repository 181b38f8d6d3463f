-- The durability matrix, measured: acks=0, acks=1, acks=all with
-- min.insync.replicas 1, 2 and 3 (replication factor 3), acks=all on RF 1
-- and the golden rule with idempotence, each under the same 300 random
-- fault schedules (profile lan, seed 1: the figures in docs/explore.md and
-- docs/img/matrix.svg).  Prints the Markdown table; writes the chart to
-- $INSYNC_PICTURES/matrix.svg (build/pictures by default).
-- `insync matrix --svg FILE` does the same from the command line.
local insync = require "insync"

local m = insync.matrix{ profile = "lan", runs = 300, seed = 1 }
io.write(m:markdown())

local dir = os.getenv("INSYNC_PICTURES") or "build/pictures"
os.execute(("mkdir -p '%s'"):format(dir:gsub("'", "'\\''")))
local path = dir .. "/matrix.svg"
local f = assert(io.open(path, "w"))
f:write(m:svg())
f:close()
print("chart: " .. path)
