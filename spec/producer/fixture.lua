-- Shared set-up of the producer specs: a mock cluster and a producer on it.
local insync = require "insync"

local helpers = require "helpers"
local fixture = {}

--- A fresh mock cluster with topic `topic` (partitions, replication factor).
function fixture.cluster(brokers, topic, partitions, rf)
  local m = insync.mock{ brokers = brokers or 3 }
  if topic then m:create_topic(topic, partitions or 1, rf or 1) end
  return m
end

--- A producer on mock cluster `m`; `conf` adds to or overrides the defaults.
function fixture.producer(m, conf)
  local c = { ["bootstrap.servers"] = m:bootstrap_servers() }
  for k, v in pairs(conf or {}) do c[k] = v end
  return insync.producer(c)
end

fixture.sh = helpers.sh

return fixture
