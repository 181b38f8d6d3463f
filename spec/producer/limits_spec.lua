-- What librdkafka's mock cluster cannot take is refused with a clear error
-- before librdkafka sees it: it would abort the process (an assertion) or
-- take minutes.  Each case runs in a child process: before the limits,
-- the child aborted.
local helpers = require "helpers"

local function child(body, seconds)
  local out, ok = helpers.run_lua_code("local insync = require 'insync'\n" .. body ..
                                       "\nprint('child done')\n", seconds or 60)
  assert(ok and out:match("child done"), "the child process died:\n" .. out)
  return out
end

describe("insync.mock's limits", function()
  it("refuses more partitions than a topic can have, naming the argument", function()
    local out = child([[
      local m = insync.mock{ brokers = 1 }
      print(pcall(m.create_topic, m, "t", 2147483647, 1))
      print(pcall(m.create_topic, m, "u", 10001, 1))
      m:create_topic("v", 10000, 1)
      print("10000 ok")
    ]])
    assert.matches("false\tcreate_topic: partitions: expected at most 10000, got 2147483647", out)
    assert.matches("false\tcreate_topic: partitions: expected at most 10000, got 10001", out)
    assert.matches("10000 ok", out)
  end)

  it("refuses more brokers than it takes", function()
    local out = child([[
      print(pcall(insync.mock, { brokers = 30000 }))
      print(pcall(insync.mock, { brokers = 65 }))
      local m = insync.mock{ brokers = 64 }
      print("brokers", m:brokers())
    ]], 30)
    assert.matches("false\tmock: brokers: expected at most 64, got 30000", out)
    assert.matches("false\tmock: brokers: expected at most 64, got 65", out)
    assert.matches("brokers\t64", out)
  end)

  it("refuses brokers the file descriptor limit cannot hold, instead of aborting", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local insync = require "insync"
      print(pcall(insync.mock, { brokers = 63 }))
      local m = insync.mock{ brokers = 3 }
      print("small", m:brokers())
      print("child done")
    ]])
    f:close()
    local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")
    local out, ok = helpers.sh(("cd %s && ulimit -n 120 && LUA_PATH=%q LUA_CPATH=%q timeout -s KILL 60 %s %s")
      :format(helpers.top, package.path, package.cpath, exe, script))
    os.remove(script)
    assert(ok and out:match("child done"), "the child process died:\n" .. out)
    assert.matches("false\tmock: brokers: 63 brokers need about %d+ file descriptors, "
      .. "%d+ are left under the limit %(RLIMIT_NOFILE 120", out)
    assert.matches("small\t3", out)
  end)
end)
