-- The `insync` command: `insync check FILE...`, its output and exit codes
-- (0 fine, 1 an error-level finding, 2 usage or parse error), run as a
-- child process of the interpreter running the specs.
local helpers = require "helpers"

-- bin/insync with args, on the interpreter running the specs: stdout,
-- stderr and the exit status.
local insync = helpers.insync_command

local function write(dir, name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end

local EX = "examples/check/"

describe("insync check", function()
  it("passes the golden-rule files: exit 0, no error, the golden rule shown with its run", function()
    local out, err, rc = insync("check " .. EX .. "golden/producer.properties " .. EX .. "golden/topic.properties")
    assert.equal(0, rc, out .. err)
    assert.matches("INFO golden%-rule", out)
    assert.matches("200 sent, 200 acknowledged, 0 failed", out)
    assert.matches("0 errors, 0 warnings, 1 info", out)
    assert.equal("", err)
  end)

  it("runs from a checkout as an executable, on whichever Lua `lua` is, with no LUA_PATH set", function()
    local out, ok = helpers.sh(("cd %s && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 " ..
      "bin/insync check %sgolden/producer.properties %sgolden/topic.properties 2>&1"):format(helpers.top, EX, EX))
    assert.is_true(ok, out)
    assert.matches("200 sent, 200 acknowledged, 0 failed", out)
  end)

  local mistakes = {
    { "mistake1-rf1", "ERROR acks%-all%-rf%-1", "5 acknowledged records were lost" },
    { "mistake2-min-isr-equals-rf", "ERROR min%-isr%-equals%-rf", "retried after NOT_ENOUGH_REPLICAS" },
    { "mistake3-acks1", "ERROR acks%-1", "20 acknowledged records were lost" },
  }
  for _, m in ipairs(mistakes) do
    it("flags " .. m[1] .. " with the model's evidence and exits 1", function()
      local out, err, rc = insync("check " .. ("%s%s/*"):format(EX, m[1]))
      assert.equal(1, rc, out .. err)
      assert.matches(m[2], out)
      assert.matches(m[3], out)
    end)
  end

  it("parses a durable producer's Spring configuration cleanly; with RF 3, min.insync.replicas 2 it passes", function()
    local out, err, rc = insync("check " .. EX .. "spring/application.properties " ..
      "--replication-factor 3 --min-insync-replicas 2")
    assert.equal(0, rc, out .. err)
    assert.is_nil(out:match("unknown keys"))
    assert.is_nil(out:match("notes:"))
    assert.matches("client: java", out)
    assert.matches("in force: acks=all enable.idempotence=true retries=2147483647 delivery.timeout.ms=120000", out)
    assert.matches("INFO golden%-rule", out)
  end)

  it("reads a librdkafka file with librdkafka's defaults: idempotence off is a warning, exit 0", function()
    local out, err, rc = insync("check " .. EX .. "librdkafka/producer.conf " .. EX .. "golden/topic.properties")
    assert.equal(0, rc, out .. err)
    assert.matches("client: librdkafka", out)
    assert.matches("WARNING idempotence%-off", out)
    assert.matches("1 duplicated", out)
  end)

  it("takes the topic from the command line, which overrides the files", function()
    local out, _, rc = insync("check " .. EX .. "golden/producer.properties " .. EX .. "golden/topic.properties " ..
      "--min-insync-replicas=3")
    assert.equal(1, rc)
    assert.matches("ERROR min%-isr%-equals%-rf", out)
    assert.matches("command line %-%-min%-insync%-replicas", out)
    out, _, rc = insync("check " .. EX .. "golden/producer.properties " ..
      "--replication-factor 3 --min-insync-replicas 2 --brokers 2")
    assert.equal(1, rc)
    assert.matches("ERROR rf%-above%-brokers", out)
  end)

  it("--accept-loss makes acks=1 info: exit 0", function()
    local out, err, rc = insync("check " .. EX .. "mistake3-acks1/* --accept-loss")
    assert.equal(0, rc, out .. err)
    assert.matches("INFO acks%-1", out)
  end)

  it("reports unknown keys with file and line and still checks the rest", function()
    local dir = helpers.tmpdir()
    local f = write(dir, "producer.properties", "acks=all\nlinger.ms=5\nacks.typo=1\n")
    local out, err, rc = insync("check " .. f .. " --replication-factor 3 --min-insync-replicas 2")
    helpers.sh("rm -rf " .. dir)
    assert.equal(0, rc, out .. err)
    assert.matches("unknown keys %(not checked%):\n  [^\n]*producer.properties:3: acks.typo:", out)
  end)

  it("exits 2 on a line it cannot parse, naming the file and the line", function()
    local dir = helpers.tmpdir()
    local f = write(dir, "producer.conf", "acks=all\n# fine\nlinger.ms 5\n")
    local out, err, rc = insync("check " .. f)
    assert.equal(2, rc)
    assert.equal("", out)
    assert.equal(("insync: %s:3: expected key=value, got \"linger.ms 5\"\n"):format(f), err)
    f = write(dir, "p.properties", "acks=all\nretries=lots\n")
    out, err, rc = insync("check " .. f)
    helpers.sh("rm -rf " .. dir)
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches(f .. ":2: retries: expected an integer", err, 1, true)
  end)

  it("exits 2 on usage errors", function()
    local _, err, rc = insync("check")
    assert.equal(2, rc)
    assert.matches("no FILE given", err)
    _, err, rc = insync("check " .. EX .. "golden/producer.properties --replication-factor")
    assert.equal(2, rc)
    assert.matches("%-%-replication%-factor needs a value", err)
    _, err, rc = insync("check " .. EX .. "golden/producer.properties --replication-factor three")
    assert.equal(2, rc)
    assert.matches("expected a positive integer", err)
    _, err, rc = insync("check " .. EX .. "golden/producer.properties --colour")
    assert.equal(2, rc)
    assert.matches("unknown option %-%-colour", err)
    _, err, rc = insync("check --client go " .. EX .. "golden/producer.properties")
    assert.equal(2, rc)
    assert.matches("%-%-client: expected java or librdkafka", err)
    _, err, rc = insync("check no/such/file.properties")
    assert.equal(2, rc)
    assert.matches("no/such/file.properties", err)
    _, err, rc = insync("frobnicate")
    assert.equal(2, rc)
    assert.matches("unknown command 'frobnicate'", err)
    _, _, rc = insync("")
    assert.equal(2, rc)
  end)

  it("has --help on the command and on check", function()
    local out, _, rc = insync("--help")
    assert.equal(0, rc)
    assert.matches("usage: insync COMMAND", out)
    assert.matches("\n  check ", out)
    out, _, rc = insync("check --help")
    assert.equal(0, rc)
    assert.matches("usage: insync check FILE", out)
    assert.matches("exit status: 0", out)
    local again = insync("help check")
    assert.equal(out, again)
  end)

  it("--json prints the findings as JSON", function()
    local out, _, rc = insync("check " .. EX .. "mistake3-acks1/* --json")
    assert.equal(1, rc)
    assert.matches('^{\n  "client": "java"', out)
    assert.matches('"id": "acks%-1"', out)
    assert.matches('"lost": 20', out)
    local ok, cjson = pcall(require, "cjson")
    if ok then
      local doc = cjson.decode(out)
      assert.equal("acks-1", doc.findings[1].id)
    end
  end)

  it("--scripts DIR writes each finding's replay script, which reproduces it", function()
    local dir = helpers.tmpdir()
    local out, _, rc = insync("check " .. EX .. "mistake1-rf1/* --scripts " .. dir)
    assert.equal(1, rc)
    assert.matches("replay: lua " .. dir .. "/acks%-all%-rf%-1.lua", out)
    local run, ok = helpers.run_lua(dir .. "/acks-all-rf-1.lua")
    helpers.sh("rm -rf " .. dir)
    assert.is_true(ok, run)
    assert.matches("sent=5 acked=5 failed=0 lost=5", run)
  end)
end)
