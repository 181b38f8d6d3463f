-- examples/openresty/nginx.conf, as docs/openresty.md shows it, run by Debian's
-- nginx against the mock cluster: only the port, the checkout's paths and
-- the bootstrap servers are filled in.
local nginx = require "openresty.nginx"

describe("examples/openresty/nginx.conf", function()
  local cluster, srv

  setup(function()
    assert(nginx.available())
    cluster = nginx.mock_cluster("example-cluster", { "orders", "access" })
  end)

  teardown(function()
    if srv then srv:stop(10) end
    if cluster then cluster.stop() end
  end)

  it("sends from a handler and from the log phase, serves metrics, and delivers everything across a reload", function()
    local f = assert(io.open(nginx.top .. "/examples/openresty/nginx.conf"))
    local conf = f:read("a")
    f:close()
    local port = nginx.free_port()
    local n
    conf, n = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
    assert.are.equal(1, n)
    conf, n = conf:gsub("%$prefix/", nginx.top .. "/")
    assert.are.equal(3, n)
    conf, n = conf:gsub("/usr/lib/nginx/modules/", nginx.modules .. "/")
    assert.are.equal(2, n)
    srv = nginx.start{ name = "example", conf = conf, port = port, workers = 2,
      cmd_env = { INSYNC_BOOTSTRAP = cluster.bootstrap } }

    local status, body = srv:request("POST", "/orders?id=42", "two apples")
    assert.are.same({ 202, "queued\n" }, { status, body })
    status, body = srv:get("/hello")
    assert.are.same({ 200, "hello\n" }, { status, body })

    local cjson = require "cjson"
    local deadline, m = nginx.now() + 30
    repeat
      local _, text = srv:get("/insync/metrics")
      m = cjson.decode(text)
      local delivered = 0
      for _, w in ipairs(m.workers) do delivered = delivered + w.delivered end
      if delivered == 2 and #m.workers == 2 then break end
      nginx.sleep(0.1)
    until nginx.now() > deadline
    assert.are.equal(2, #m.workers)
    for _, w in ipairs(m.workers) do
      assert.are.equal(0, w.queue_depth)
      assert.are.equal(0, w.failed)
    end

    status, body = srv:get("/metrics")
    assert.are.equal(200, status)
    assert.truthy(body:find('\ninsync_records_sent_total{producer="default",topic="orders"} 1\n', 1, true), body)
    assert.truthy(body:find('\ninsync_records_delivered_total{producer="default"} 2\n', 1, true), body)

    assert.is_true(srv:reload())
    status, body = srv:get("/again")
    assert.are.same({ 200, "hello\n" }, { status, body })
    assert.is_true(srv:stop())

    local orders = nginx.read_topic(cluster.bootstrap, "orders")
    assert.are.equal(1, #orders)
    assert.are.same({ "42", "two apples" }, { orders[1].key, orders[1].value })
    local access = nginx.read_topic(cluster.bootstrap, "access")
    local lines = {}
    for _, r in ipairs(access) do lines[#lines + 1] = r.value end
    table.sort(lines)
    assert.are.same({ "GET /again 200", "GET /hello 200" }, lines)
    assert.are.equal(4, #srv:log_lines("insync%.openresty: worker %d+ exiting %(graceful%)"))
    assert.are.same({}, srv:problems())
  end)
end)
