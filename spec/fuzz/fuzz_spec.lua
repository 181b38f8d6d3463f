-- The fuzzer (spec/fuzz/driver.lua, batches under a watchdog by
-- spec/fuzz/run) for a bounded number of calls on the interpreter and
-- core.so running the specs: under `make sanitize`, the ASan+UBSan build.
-- INSYNC_FUZZ_N sets the count (default 2000); `make fuzz N=...` runs it
-- longer by hand.  Its last line (calls, seeds, result) is in the log.
local helpers = require "helpers"

describe("the fuzzer", function()
  it("finds no crash, sanitizer report, hang or unclear message", function()
    local n = tonumber(os.getenv("INSYNC_FUZZ_N") or "") or 2000
    local exe = helpers.sh("readlink /proc/$PPID/exe"):gsub("%s+$", "")
    local cdir = os.getenv("INSYNC_CPATH") or (helpers.top .. "/build/lua5.4")
    local out, ok = helpers.sh(("%s/spec/fuzz/run %s %s %d"):format(helpers.top, exe, cdir, n))
    print(out)
    assert.is_true(ok, out)
    assert.matches("fuzz: " .. n .. " calls in %d+ batches .*: ok", out)
  end)
end)
