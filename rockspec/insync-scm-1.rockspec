-- insync: Kafka durability, modelled and for real.  `luarocks make
-- rockspec/insync-scm-1.rockspec` builds it against Debian's (or any)
-- librdkafka; set RDKAFKA_INCDIR / RDKAFKA_LIBDIR for another install.
rockspec_format = "3.0"
package = "insync"
version = "scm-1"
source = {
  url = "git+file://.",
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
  license = "MIT",
  labels = { "kafka", "librdkafka", "simulation" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
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
        "csrc/common/kerr.c",
        "csrc/lua/cluster.c",
        "csrc/lua/core.c",
        "csrc/lua/errors.c",
        "csrc/lua/mock.c",
        "csrc/lua/msg.c",
        "csrc/lua/producer.c",
        "csrc/lua/report.c",
        "csrc/model/audit.c",
        "csrc/model/broker.c",
        "csrc/model/cluster.c",
        "csrc/model/config.c",
        "csrc/model/controller.c",
        "csrc/model/log.c",
        "csrc/model/mem.c",
        "csrc/model/net.c",
        "csrc/model/partition.c",
        "csrc/model/partitioner.c",
        "csrc/model/producer.c",
        "csrc/model/records.c",
        "csrc/model/sim.c",
        "csrc/model/trace.c",
        "csrc/rdkafka/mock.c",
        "csrc/rdkafka/producer.c",
      },
      libraries = { "rdkafka" },
      incdirs = { "$(RDKAFKA_INCDIR)" },
      libdirs = { "$(RDKAFKA_LIBDIR)" },
    },
    ["insync"] = "lua/insync/init.lua",
    ["insync.cluster"] = "lua/insync/cluster.lua",
    ["insync.diagram"] = "lua/insync/diagram.lua",
    ["insync.timeline"] = "lua/insync/timeline.lua",
    ["insync.picture"] = "lua/insync/picture.lua",
    ["insync.producer"] = "lua/insync/producer.lua",
    ["insync.openresty"] = "lua/insync/openresty.lua",
  },
}
