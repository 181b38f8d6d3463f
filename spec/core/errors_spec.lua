local insync = require "insync"
local helpers = require "helpers"

describe("insync module", function()
  it("names its version and librdkafka's", function()
    assert.equal("0.2.0", insync._VERSION)
    local pkg = helpers.sh("dpkg-query -W -f='${Version}' librdkafka1")
    assert.matches("^%d+%.%d+%.%d+$", insync.librdkafka_version)
    assert.equal(1, pkg:find(insync.librdkafka_version, 1, true),
      "librdkafka_version " .. insync.librdkafka_version .. " is not the installed " .. pkg)
  end)
end)

describe("insync.errors", function()
  it("maps Kafka's and librdkafka's error names to librdkafka's codes", function()
    assert.equal(19, insync.errors.NOT_ENOUGH_REPLICAS)
    assert.equal(20, insync.errors.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
    assert.equal(7, insync.errors.REQUEST_TIMED_OUT)
    assert.equal(-192, insync.errors._MSG_TIMED_OUT)
    assert.equal(45, insync.errors.OUT_OF_ORDER_SEQUENCE_NUMBER)
    assert.equal(-184, insync.errors._QUEUE_FULL)
  end)

  it("knows every name librdkafka knows, and each code names itself back", function()
    local names = insync.error_names()
    assert.is_true(#names > 100)
    for _, name in ipairs(names) do
      local code = insync.errors[name]
      assert.is_number(code)
      if name ~= "NOT_LEADER_OR_FOLLOWER" then
        assert.equal(name, insync.error(code).name)
      end
    end
  end)

  it("accepts Kafka's newer name NOT_LEADER_OR_FOLLOWER for code 6", function()
    assert.equal(6, insync.errors.NOT_LEADER_OR_FOLLOWER)
    assert.equal(insync.errors.NOT_LEADER_FOR_PARTITION, insync.errors.NOT_LEADER_OR_FOLLOWER)
  end)

  it("is read-only", function()
    local msg = helpers.raises(function() insync.errors.NOT_ENOUGH_REPLICAS = 1 end)
    assert.matches("read%-only", msg)
    assert.equal(19, insync.errors.NOT_ENOUGH_REPLICAS)
    msg = helpers.raises(function() insync.errors.MY_OWN = 1 end)
    assert.matches("read%-only.*MY_OWN", msg)
  end)

  it("raises, naming it, when asked for a name librdkafka does not know", function()
    local msg = helpers.raises(function() return insync.errors.NOT_ENOUGH_REPLICA end)
    assert.matches("unknown error name 'NOT_ENOUGH_REPLICA'", msg)
  end)

  it("agrees with the codes the C core uses (csrc/common/kerr.h)", function()
    local header = helpers.read("csrc/common/kerr.h")
    local n = 0
    for name, code in header:gmatch("INSYNC_KERR_([%w_]+) = (%-?%d+)") do
      assert.equal(tonumber(code), insync.errors[name], name)
      n = n + 1
    end
    assert.is_true(n >= 20)
  end)
end)

describe("error objects", function()
  it("carry code, name, message, retriable, fatal and persisted", function()
    local err = insync.error("NOT_ENOUGH_REPLICAS")
    assert.equal(19, err.code)
    assert.equal("NOT_ENOUGH_REPLICAS", err.name)
    assert.is_string(err.message)
    assert.is_true(#err.message > 0)
    assert.is_true(err.retriable)
    assert.is_false(err.fatal)
    assert.equal("not_persisted", err.persisted)
    assert.equal("NOT_ENOUGH_REPLICAS: " .. err.message, tostring(err))
    assert.is_true(insync.is_error(err))
    assert.is_false(insync.is_error({ code = 19 }))
  end)

  it("classify retriable errors as Kafka does", function()
    for _, name in ipairs { "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "REQUEST_TIMED_OUT", "NOT_LEADER_OR_FOLLOWER", "LEADER_NOT_AVAILABLE",
        "_MSG_TIMED_OUT", "_TRANSPORT" } do
      assert.is_true(insync.error(name).retriable, name)
    end
    for _, name in ipairs { "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_REQUIRED_ACKS",
        "MSG_SIZE_TOO_LARGE", "TOPIC_AUTHORIZATION_FAILED", "_PURGE_QUEUE" } do
      assert.is_false(insync.error(name).retriable, name)
    end
  end)

  it("take a message, a persisted status and a fatal flag", function()
    local err = insync.error(-192, "timed out in queue", "possibly_persisted")
    assert.equal("_MSG_TIMED_OUT", err.name)
    assert.equal("timed out in queue", err.message)
    assert.equal("possibly_persisted", err.persisted)
    local fatal = insync.error("OUT_OF_ORDER_SEQUENCE_NUMBER", nil, "not_persisted", true)
    assert.is_true(fatal.fatal)
    assert.is_false(fatal.retriable)
    assert.is_true(insync.error("_FATAL").fatal)
  end)

  it("reject bad arguments, naming them", function()
    assert.matches("unknown error name 'NO_SUCH_ERROR'",
      helpers.raises(insync.error, "NO_SUCH_ERROR"))
    assert.matches("expected an error name or code, got table",
      helpers.raises(insync.error, {}))
    assert.matches('error: persisted: expected "not_persisted", "possibly_persisted" or "persisted", got maybe',
      helpers.raises(insync.error, 19, "m", "maybe"))
    assert.matches("error: message: expected string or nil, got table",
      helpers.raises(insync.error, 19, {}))
  end)
end)
