-- `insync check` on the example configuration files in examples/check/:
-- the golden rule passes (exit 0), each of the three common mistakes is
-- flagged with the model's evidence (exit 1), and the Spring Boot
-- configuration of a durable producer parses without complaint, and a
-- librdkafka file gets librdkafka's defaults (idempotence off: a warning).
-- Run from the checkout: make demo (or lua5.4 examples/check.lua).
local lua = arg and arg[-1] or "lua5.4"
local runs = {   -- files under examples/check/, options, the exit status expected
  { { "golden/producer.properties", "golden/topic.properties" }, "", 0 },
  { { "mistake1-rf1/producer.properties", "mistake1-rf1/server.properties" }, "", 1 },
  { { "mistake2-min-isr-equals-rf/producer.properties", "mistake2-min-isr-equals-rf/topic.properties" }, "", 1 },
  { { "mistake3-acks1/producer.properties", "mistake3-acks1/topic.properties" }, "", 1 },
  { { "spring/application.properties" }, " --replication-factor 3 --min-insync-replicas 2", 0 },
  { { "librdkafka/producer.conf", "golden/topic.properties" }, "", 0 },
}
local wrong = 0
for _, r in ipairs(runs) do
  local args = "examples/check/" .. table.concat(r[1], " examples/check/") .. r[2]
  local cmd = ("%s bin/insync check %s"):format(lua, args)
  print("$ insync check " .. args)
  io.stdout:flush()
  local ok, _, code = os.execute(cmd)
  if type(ok) == "number" then code = ok / 256 end   -- LuaJIT / Lua 5.1: one status
  if ok == true then code = 0 end
  print(("(exit %d, expected %d)\n"):format(code, r[3]))
  io.stdout:flush()
  if code ~= r[3] then wrong = wrong + 1 end
end
os.exit(wrong == 0 and 0 or 1)
