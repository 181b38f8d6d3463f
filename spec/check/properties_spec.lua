-- Reading configuration files: Java .properties syntax, Spring Boot's
-- application.properties, librdkafka's key=value files, into Kafka's names.
local properties = require "insync.properties"
local helpers = require "helpers"

local function parse(text, opts)
  local r, err = properties.parse(text, opts)
  assert(r, err)
  return r
end

describe("Java .properties syntax", function()
  it("takes '=', ':' and blanks as separators, and skips # and ! comments", function()
    local e = assert(properties.parse_java(table.concat({
      "# a comment",
      "! another",
      "   ",
      "a=1",
      "b : 2",
      "c   3",
      "d=",
      "e",
      "  f = with spaces inside  ",
    }, "\n"), "x.properties"))
    local got = {}
    for _, x in ipairs(e) do got[#got + 1] = x.key .. "|" .. x.value .. "|" .. x.line end
    assert.same({ "a|1|4", "b|2|5", "c|3|6", "d||7", "e||8", "f|with spaces inside  |9" }, got)
  end)

  it("joins a line ending in an odd number of backslashes with the next, skipping its indent", function()
    local e = assert(properties.parse_java(
      "list = one, \\\n        two, \\\n        three\nslash = ends\\\\\nnext = 1\n", "x"))
    assert.equal("list", e[1].key)
    assert.equal("one, two, three", e[1].value)
    assert.equal("ends\\", e[2].value)     -- an even run is an escaped backslash, no continuation
    assert.equal("next", e[3].key)
    assert.equal(5, e[3].line)
  end)

  it("does not take a continued line that starts with # as a comment", function()
    local e = assert(properties.parse_java("k = a\\\n  #b\n", "x"))
    assert.equal(1, #e)
    assert.equal("a#b", e[1].value)
  end)

  it("reads escapes: \\t \\n, \\uhhhh, and escaped separators in keys", function()
    local e = assert(properties.parse_java("key\\=with\\:seps = tab\\there\\u0041\\u00e9\nsp\\ ace=1\r\nw=2\r", "x"))
    assert.equal("key=with:seps", e[1].key)
    assert.equal("tab\there" .. "A" .. "\195\169", e[1].value)
    assert.equal("sp ace", e[2].key)
    assert.equal("w", e[3].key)
    assert.equal(3, e[3].line)               -- CRLF and CR both end a line
  end)

  it("refuses a malformed \\uhhhh, naming the file and the line", function()
    local e, err = properties.parse_java("a=1\nb=\\u12G4\n", "conf/producer.properties")
    assert.is_nil(e)
    assert.equal("conf/producer.properties:2: malformed \\uxxxx encoding", err)
  end)
end)

describe("librdkafka key=value files", function()
  it("reads key=value lines, trims blanks, skips # comments", function()
    local e = assert(properties.parse_librdkafka("# c\n\n bootstrap.servers = a:9092 \nacks=all\n", "p.conf"))
    assert.same({ key = "bootstrap.servers", value = "a:9092", line = 3 }, e[1])
    assert.same({ key = "acks", value = "all", line = 4 }, e[2])
  end)

  it("refuses a line without '=' or with an empty key, naming the file and line", function()
    local e, err = properties.parse_librdkafka("acks=all\nlinger.ms 5\n", "p.conf")
    assert.is_nil(e)
    assert.equal('p.conf:2: expected key=value, got "linger.ms 5"', err)
    e, err = properties.parse_librdkafka("acks=all\n\n=5\n", "p.conf")
    assert.is_nil(e)
    assert.equal("p.conf:3: empty key before '='", err)
  end)
end)

describe("properties.parse", function()
  it("reads a Java producer file into Kafka's names and typed values", function()
    local r = parse("acks=-1\nenable.idempotence=TRUE\nretries=5\nlinger.ms=10\n" ..
      "max.in.flight.requests.per.connection=5\nkey.serializer=x.Y\n", { name = "producer.properties" })
    assert.equal("java", r.format)
    assert.equal("java", r.client)
    assert.same({ acks = "all", ["enable.idempotence"] = true, retries = 5, ["linger.ms"] = 10,
                  ["max.in.flight.requests.per.connection"] = 5 }, r.producer)
    assert.same({}, r.unknown)
    assert.equal("producer.properties:3", r.sources["producer.retries"])
  end)

  it("maps librdkafka's aliases to Kafka's names and takes librdkafka's client", function()
    local r = parse("request.required.acks=1\nmessage.send.max.retries=3\nmessage.timeout.ms=60000\n" ..
      "queue.buffering.max.ms=20\nmax.in.flight=10\nmetadata.broker.list=a:1\ncompression.codec=lz4\n" ..
      "enable.idempotence=false\nsocket.timeout.ms=5000\n", { name = "producer.conf" })
    assert.equal("librdkafka", r.format)
    assert.equal("librdkafka", r.client)
    assert.same({ acks = "1", retries = 3, ["delivery.timeout.ms"] = 60000, ["linger.ms"] = 20,
                  ["max.in.flight.requests.per.connection"] = 10, ["compression.type"] = "lz4",
                  ["enable.idempotence"] = false, ["socket.timeout.ms"] = 5000 }, r.producer)
    assert.same({}, r.unknown)
  end)

  it("guesses librdkafka for a .properties file that uses librdkafka's names only", function()
    local r = parse("queue.buffering.max.ms=5\nacks=all\n", { name = "client.properties" })
    assert.equal("librdkafka", r.client)
    assert.equal(5, r.producer["linger.ms"])
  end)

  it("reports unknown keys with file and line, and goes on", function()
    local r = parse("acks=all\nakcs=1\nqueue.buffering.max.ms=5\nkey.serializer=x\n",
      { name = "p.properties", client = "java" })
    assert.same({ acks = "all" }, r.producer)
    assert.equal(2, #r.unknown)
    assert.same({ "p.properties", 2, "akcs" }, { r.unknown[1].file, r.unknown[1].line, r.unknown[1].key })
    assert.matches("not a Kafka producer", r.unknown[1].hint)
    assert.equal("queue.buffering.max.ms", r.unknown[2].key)
    assert.matches("librdkafka name.*linger%.ms", r.unknown[2].hint)
  end)

  it("tells a librdkafka file's Java-only names apart: librdkafka refuses them", function()
    local r = parse("acks=all\nbuffer.memory=1\n", { name = "p.conf" })
    assert.equal("buffer.memory", r.unknown[1].key)
    assert.matches("rd_kafka_conf_set", r.unknown[1].hint)
  end)

  it("refuses a value it cannot read, naming the file, the line and the key", function()
    local r, err = properties.parse("linger.ms=5\nacks=most\n", { name = "p.properties" })
    assert.is_nil(r)
    assert.equal('p.properties:2: acks: expected all, -1, 0 or 1, got "most"', err)
    r, err = properties.parse("retries=many\n", { name = "p.properties" })
    assert.is_nil(r)
    assert.equal('p.properties:1: retries: expected an integer, got "many"', err)
    r, err = properties.parse("\n\nenable.idempotence=yes\n", { name = "p.properties" })
    assert.is_nil(r)
    assert.equal('p.properties:3: enable.idempotence: expected true or false, got "yes"', err)
  end)

  it("accepts Integer.MAX_VALUE as 2147483647, and says Kafka itself would not", function()
    local r = parse("retries=Integer.MAX_VALUE\n", { name = "p.properties" })
    assert.equal(2147483647, r.producer.retries)
    assert.equal(1, #r.notes)
    assert.matches("^p.properties:1: retries=Integer.MAX_VALUE is Java source", r.notes[1])
  end)

  it("puts a topic's settings in topic, a broker file's in cluster", function()
    local t = parse("replication.factor=3\nmin.insync.replicas=2\nretention.ms=1000\ncompression.type=producer\n",
      { name = "topic.properties" })
    assert.same({ ["replication.factor"] = 3, ["min.insync.replicas"] = 2 }, t.topic)
    assert.same({}, t.producer)      -- the topic's compression.type is not the producer's
    assert.same({}, t.unknown)
    assert.same({}, t.notes)
    local b = parse("node.id=1\nlog.dirs=/x\nlog.retention.hours=1\ndefault.replication.factor=3\n" ..
      "min.insync.replicas=2\nunclean.leader.election.enable=false\n", { name = "server.properties" })
    assert.equal("broker", b.role)
    assert.same({ ["default.replication.factor"] = 3, ["min.insync.replicas"] = 2,
                  ["unclean.leader.election.enable"] = false }, b.cluster)
    assert.same({}, b.unknown)
  end)

  it("notes that min.insync.replicas in a producer's file is not the producer's", function()
    local r = parse("acks=all\nmin.insync.replicas=2\n", { name = "producer.properties" })
    assert.equal(2, r.topic["min.insync.replicas"])
    assert.equal(1, #r.notes)
    assert.matches("^producer.properties:2: min.insync.replicas is a topic or broker setting", r.notes[1])
  end)

  it("raises on misuse, naming the function and the argument", function()
    assert.matches("properties.parse: text: expected string, got nil", helpers.raises(properties.parse))
    assert.matches("properties.parse: format: expected", helpers.raises(properties.parse, "", { format = "yaml" }))
    assert.matches("unknown option 'fmt'", helpers.raises(properties.parse, "", { fmt = "java" }))
  end)
end)

describe("Spring Boot application.properties", function()
  it("parses a durable producer's Spring configuration without complaint", function()
    local r, err = properties.read("examples/check/spring/application.properties")
    assert(r, err)
    assert.equal("spring", r.format)
    assert.equal("java", r.client)
    assert.same({}, r.unknown)
    assert.same({}, r.notes)
    assert.same({
      acks = "all", retries = 2147483647, ["enable.idempotence"] = true,
      ["delivery.timeout.ms"] = 120000, ["request.timeout.ms"] = 30000, ["retry.backoff.ms"] = 100,
      ["linger.ms"] = 5, ["batch.size"] = 32768, ["compression.type"] = "snappy",
    }, r.producer)
    assert.equal("examples/check/spring/application.properties:9 (spring.kafka.producer.acks)",
      r.sources["producer.acks"])
  end)

  it("binds relaxed names, both forms of properties.*, and sizes like 32KB", function()
    local r = parse(table.concat({
      "spring.kafka.producer.batchSize=32KB",
      "spring.kafka.producer.compression_type=gzip",
      "spring.kafka.producer.properties[linger.ms]=7",
      "spring.kafka.properties.request.timeout.ms=20000",
    }, "\n"), { name = "application.properties" })
    assert.same({ ["batch.size"] = 32768, ["compression.type"] = "gzip", ["linger.ms"] = 7,
                  ["request.timeout.ms"] = 20000 }, r.producer)
  end)

  it("applies Spring's precedence: producer.properties over producer.<name> over spring.kafka.properties", function()
    local r = parse(table.concat({
      "spring.kafka.producer.properties.acks=all",
      "spring.kafka.producer.acks=1",
      "spring.kafka.properties.acks=0",
    }, "\n"), { name = "application.properties" })
    assert.equal("all", r.producer.acks)
  end)

  it("reports producer names Spring Boot does not have (it ignores them silently)", function()
    local r = parse("spring.kafka.producer.linger-ms=5\nspring.kafka.producer.enable-idempotence=true\n" ..
      "spring.kafka.producer.acks=all\nserver.port=8080\n", { name = "application.properties" })
    assert.same({ acks = "all" }, r.producer)
    assert.equal(2, #r.unknown)
    assert.equal("spring.kafka.producer.linger-ms", r.unknown[1].key)
    assert.matches("spring.kafka.producer.properties.linger.ms", r.unknown[1].hint)
    assert.matches("spring.kafka.producer.properties.enable.idempotence", r.unknown[2].hint)
    assert.same({ "server.port" }, r.ignored)     -- the application's own settings
  end)

  it("takes a topic's settings written under Kafka's names", function()
    local r = parse("spring.kafka.producer.acks=all\nmin.insync.replicas=2\nreplication.factor=3\n",
      { name = "application.properties" })
    assert.same({ ["min.insync.replicas"] = 2, ["replication.factor"] = 3 }, r.topic)
  end)
end)

describe("properties.merge", function()
  it("lets a later file override an earlier one, with a note", function()
    local a = parse("acks=1\n", { name = "a.properties" })
    local b = parse("acks=all\n", { name = "b.properties" })
    local m = assert(properties.merge { a, b })
    assert.equal("all", m.producer.acks)
    assert.equal("b.properties:1", m.sources["producer.acks"])
    assert.matches("b.properties:1 overrides a.properties:1", m.notes[1])
  end)

  it("refuses producer files for two clients unless told which", function()
    local a = parse("acks=1\n", { name = "a.properties" })
    local b = parse("acks=all\n", { name = "b.conf" })
    local m, err = properties.merge { a, b }
    assert.is_nil(m)
    assert.matches("--client", err)
    m = assert(properties.merge({ a, b }, { client = "librdkafka" }))
    assert.equal("librdkafka", m.client)
  end)
end)
