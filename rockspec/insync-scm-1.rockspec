-- insync: Kafka durability, modelled and for real.  `luarocks make
-- rockspec/insync-scm-1.rockspec` builds it from this checkout against
-- Debian's (or any) librdkafka; set RDKAFKA_INCDIR / RDKAFKA_LIBDIR for
-- another install.  It needs no other rock: lua-cjson is used only to decode
-- the producer's statistics (on_stats), when it is installed.
-- `make rock` packs a source rock of this checkout offline; `luarocks test`
-- runs the offline specs (spec/luarocks_test.lua).
rockspec_format = "3.0"
package = "insync"
version = "scm-1"
source = {
  url = "git+https://github.com/insync-lua/insync.git",
}
description = {
  summary = "Kafka durability: a deterministic cluster model and a librdkafka producer, one Lua API",
  detailed = [[
insync lets a Lua script answer "what happens to my records if..." against a
deterministic in-memory simulation of a Kafka cluster (brokers, ISR, high
watermark, acks, min.insync.replicas, crashes, network cuts, elections, an
idempotent producer), and then send the same records for real through
librdkafka, with the same send(msg, callback) call and Kafka's error names.
]],
  homepage = "https://github.com/insync-lua/insync",
  license = "MIT",
  labels = { "kafka", "librdkafka", "simulation" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
}
external_dependencies = {
  RDKAFKA = {
    header = "librdkafka/rdkafka.h",
    library = "rdkafka",
  },
}
build = {
  type = "builtin",
  modules = {
    ["insync.core"] = {
      sources = {
        "csrc/common/audit.c",
        "csrc/common/kerr.c",
        "csrc/lua/audit.c",
        "csrc/lua/cluster.c",
        "csrc/lua/conf.c",
        "csrc/lua/consumer.c",
        "csrc/lua/core.c",
        "csrc/lua/errors.c",
        "csrc/lua/mock.c",
        "csrc/lua/msg.c",
        "csrc/lua/proc.c",
        "csrc/lua/producer.c",
        "csrc/lua/report.c",
        "csrc/model/audit.c",
        "csrc/model/broker.c",
        "csrc/model/cluster.c",
        "csrc/model/completion.c",
        "csrc/model/config.c",
        "csrc/model/controller.c",
        "csrc/model/crc32.c",
        "csrc/model/dispatch.c",
        "csrc/model/explore.c",
        "csrc/model/fetcher.c",
        "csrc/model/latency.c",
        "csrc/model/log.c",
        "csrc/model/mem.c",
        "csrc/model/net.c",
        "csrc/model/partition.c",
        "csrc/model/producer.c",
        "csrc/model/records.c",
        "csrc/model/sim.c",
        "csrc/model/topic.c",
        "csrc/model/trace.c",
        "csrc/rdkafka/audit.c",
        "csrc/rdkafka/consumer.c",
        "csrc/rdkafka/conf.c",
        "csrc/rdkafka/fork.c",
        "csrc/rdkafka/mock.c",
        "csrc/rdkafka/producer.c",
        "csrc/rdkafka/track.c",
      },
      libraries = { "rdkafka" },
      incdirs = { "$(RDKAFKA_INCDIR)" },
      libdirs = { "$(RDKAFKA_LIBDIR)" },
    },
    ["insync"] = "lua/insync/init.lua",
    ["insync.check"] = "lua/insync/check.lua",
    ["insync.cluster"] = "lua/insync/cluster.lua",
    ["insync.explore"] = "lua/insync/explore.lua",
    ["insync.matrix"] = "lua/insync/matrix.lua",
    ["insync.evidence"] = "lua/insync/evidence.lua",
    ["insync.diagram"] = "lua/insync/diagram.lua",
    ["insync.timeline"] = "lua/insync/timeline.lua",
    ["insync.picture"] = "lua/insync/picture.lua",
    ["insync.producer"] = "lua/insync/producer.lua",
    ["insync.ffi"] = "lua/insync/ffi.lua",
    ["insync.consumer"] = "lua/insync/consumer.lua",
    ["insync.openresty"] = "lua/insync/openresty.lua",
    ["insync.properties"] = "lua/insync/properties.lua",
  },
  install = {
    -- the `insync` command; LuaRocks wraps it to run with the interpreter
    -- the rock was built for
    bin = { insync = "bin/insync" },
  },
}
-- LuaRocks' "busted" test type insists on a busted rock in a LuaRocks tree
-- and downloads one otherwise; this script runs the busted that is
-- installed (Debian's lua-busted, or a rock), offline.
test = {
  type = "command",
  script = "spec/luarocks_test.lua",
}
