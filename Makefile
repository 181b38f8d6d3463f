# insync: build, test, demo.  `make help` lists the targets.
#
# One shared object, insync/core.so, built from one source for each Lua:
# 5.4 (the default), OpenResty's LuaJIT 2.1, and Lua 5.1, 5.2 and 5.3
# (csrc/lua/compat.h bridges the APIs).  It never links liblua: the
# interpreter that loads it provides the Lua API.

LUA        ?= lua5.4
LUAJIT     ?= luajit
LUA_INC    ?= /usr/include/lua5.4
LUAJIT_INC ?= /usr/include/luajit-2.1
CC         ?= cc
# -fno-plt: the module calls the Lua API (exported by the interpreter or
# libluajit) some thirty times per send; through the GOT, not a PLT stub.
# With -O3 it is about a tenth faster per send (bench/model_bench.lua).
CFLAGS     ?= -O3 -g -fno-plt
WARN       := -std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
RDKAFKA_LIBS := $(shell pkg-config --libs rdkafka 2>/dev/null || echo -lrdkafka)

# Every C file under csrc/ goes into the module; one idea per file.
SRC  := $(sort $(wildcard csrc/*/*.c))
HDR  := $(sort $(wildcard csrc/*.h csrc/*/*.h))
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

BUILD := build
SO_54  := $(BUILD)/lua5.4/insync/core.so
SO_JIT := $(BUILD)/luajit/insync/core.so
SO_SAN := $(BUILD)/asan/insync/core.so
# The PUC-Rio Luas besides 5.4: build/lua5.1 ... build/lua5.3.
OTHER_LUAS := lua5.1 lua5.2 lua5.3
SO_OTHER := $(OTHER_LUAS:%=$(BUILD)/%/insync/core.so)

BUSTED_SPECS := spec/core spec/model spec/producer spec/check
LUACHECK := luacheck -q lua spec bench examples bin/insync tools/config_doc.lua tools/ffi_cdef.lua
DEPS := lua5.4 liblua5.4-dev librdkafka-dev lua-busted luarocks kcat \
        nginx-light libnginx-mod-http-lua luajit2 libluajit2-5.1-dev \
        lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev \
        lua-check lua-ldoc lua-markdown lua-cjson lua-socket wrk pkg-config gcc make libxml2-utils
KAFKA_DEPS := openjdk-17-jdk-headless maven

.PHONY: all luajit sanitize fuzz pyvenv pybench test test-lua54 test-luajit test-install check lint docs test-other-luas \
        test-openresty test-kafka test-kafka-run test-kafka-quorum test-kafka-quorum-run demo demo-kafka bench install rock clean deps kafka-deps help \
        test-pictures mermaid pictures-img

all: $(SO_54)

luajit: $(SO_JIT)

help:
	@echo "make            build insync/core.so for Lua 5.4 (build/lua5.4)"
	@echo "make luajit     build it for OpenResty's LuaJIT 2.1 (build/luajit)"
	@echo "make demo       run the examples"
	@echo "make demo-kafka the audit on a real 3-broker Kafka, leader SIGKILLed (examples/audit_real.lua)"
	@echo "make test       lint, API reference, specs on Lua 5.1-5.4 and LuaJIT, the rockspec, nginx, real Kafka"
	@echo "make check      lint and the Lua 5.4 specs: about a minute, for everyday work"
	@echo "make test-lua54, test-luajit, test-other-luas, test-install, test-openresty, test-kafka, test-pictures,"
	@echo "     lint, docs: one part of make test"
	@echo "make sanitize   the specs under AddressSanitizer and UBSan, and the fuzzer (FUZZ_N calls)"
	@echo "make fuzz N=..  the fuzzer for N calls on the ASan build and on LuaJIT (SEED=.. to explore)"
	@echo "make pictures-img  render docs/img from the examples with mermaid-cli"
	@echo "make config-doc the configuration reference in docs/ from csrc/model/config.c"
	@echo "make ffi-cdef   lua/insync/ffi.lua's ffi.cdef from csrc/lua/ffi.h"
	@echo "make bench      the benchmarks, each against its baseline in the same run"
	@echo "make install    luarocks make into the system tree"
	@echo "make rock       a source rock of this checkout, offline (build/rock)"

$(SO_54): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

$(SO_JIT): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(LUAJIT_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

$(BUILD)/lua5.%/insync/core.so: $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I/usr/include/lua5.$* -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

# The event queue renumbers its 32-bit insertion numbers before they wrap:
# the sanitized build does it every 4,096 events, so its specs check that.
$(SO_SAN): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SANITIZE) $(WARN) -DINSYNC_SIM_SEQ_MAX=4095 -I$(LUA_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

# The interpreter that runs the specs under the sanitizers (see spec/asan/lua.c).
# It links librdkafka itself (--no-as-needed) so that librdkafka stays mapped
# until exit: its process-wide state, made once by the first rd_kafka_new()
# and kept by design, would otherwise show as leaks once lua_close() unloads
# insync/core.so and, with it, librdkafka.
LUA_SAN := $(BUILD)/asan/lua5.4
$(LUA_SAN): spec/asan/lua.c Makefile
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SANITIZE) -Wall -Wextra -Werror -I$(LUA_INC) -rdynamic -o $@ $< \
	  -Wl,--whole-archive -l:liblua5.4.a -Wl,--no-whole-archive \
	  -Wl,--no-as-needed $(RDKAFKA_LIBS) -Wl,--as-needed -lm -ldl

deps:
	@.ci/deps $(DEPS)

kafka-deps:
	@.ci/deps $(KAFKA_DEPS)

# Python's prometheus_client (PyPI) in build/pyvenv: the Prometheus text
# parser the nginx specs read insync.openresty's metrics with.
pyvenv:
	@.ci/pyvenv

# make test: every suite runs, each one's counts are kept in build/results,
# and the last line is the total, "N passed, N failed".
test: deps all luajit $(SO_OTHER)
	@rm -rf $(BUILD)/results
	@spec/step lint $(LUACHECK)
	@spec/step docs $(MAKE) --no-print-directory docs
	@spec/run lua5.4 $(LUA) $(BUILD)/lua5.4 $(BUSTED_SPECS)
	@spec/run luajit $(LUAJIT) $(BUILD)/luajit $(BUSTED_SPECS)
	@INSYNC_FFI=off spec/run luajit-classic $(LUAJIT) $(BUILD)/luajit spec/producer spec/core
	@for v in $(OTHER_LUAS); do spec/run $$v $$v $(BUILD)/$$v $(BUSTED_SPECS); done
	@spec/run install $(LUA) $(BUILD)/lua5.4 spec/install
	@.ci/pyvenv
	@spec/run openresty $(LUA) $(BUILD)/lua5.4 spec/openresty
	@$(MAKE) --no-print-directory mermaid
	@spec/run pictures $(LUA) $(BUILD)/lua5.4 spec/pictures
	@$(MAKE) --no-print-directory test-kafka-run
	@$(MAKE) --no-print-directory test-kafka-quorum-run
	@spec/summary

# The integration specs against a real 3-broker Apache Kafka on loopback
# (spec/kafka/cluster): fetched with Maven into .cache/kafka, run under
# build/kafka, always torn down.  test-kafka-run only records its counts in
# build/results (make test adds them up); test-kafka also prints the total.
test-kafka: kafka-deps deps all luajit
	@rm -f $(BUILD)/results/kafka
	@spec/kafka/test $(LUA) $(BUILD)/lua5.4
	@spec/summary kafka

test-kafka-run: kafka-deps deps all luajit
	@spec/kafka/test $(LUA) $(BUILD)/lua5.4

# The same cluster with a quorum of three controllers and Kafka's default
# auto.create.topics.enable=true, for spec/kafka_quorum (a quorum that loses
# its majority; topic auto-creation).
test-kafka-quorum: test-kafka-quorum-run
	@spec/summary kafka-quorum

# A cluster that does not start counts as one failure, never as a skip.
test-kafka-quorum-run: kafka-deps deps all
	@rm -f $(BUILD)/results/kafka-quorum
	@INSYNC_KAFKA_CONTROLLERS=3 INSYNC_KAFKA_AUTO_CREATE=true spec/kafka/cluster run spec/run kafka-quorum $(LUA) $(BUILD)/lua5.4 spec/kafka_quorum; \
	  [ -f $(BUILD)/results/kafka-quorum ] || { echo "-- kafka-quorum: the cluster did not start; counted as one failure"; echo "0 1 0" >$(BUILD)/results/kafka-quorum; }

# Everyday work (CONTRIBUTING.md): the lint and the specs on Lua 5.4 only,
# about a minute.  make test before a commit that touches C or packaging.
check: deps all $(SO_JIT) $(SO_OTHER)
	@rm -rf $(BUILD)/results
	@spec/step lint $(LUACHECK)
	@spec/run lua5.4 $(LUA) $(BUILD)/lua5.4 $(BUSTED_SPECS)
	@spec/summary

lint: deps
	@spec/step lint $(LUACHECK); spec/summary lint

# The configuration reference (docs/configuration.md, docs/limits.md) from
# the model's schema in csrc/model/config.c; spec/model/config_doc_spec.lua
# fails while it is stale.
.PHONY: config-doc
config-doc: all
	@LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/lua5.4/?.so;;" $(LUA) tools/config_doc.lua

# LuaJIT's ffi.cdef in lua/insync/ffi.lua from csrc/lua/ffi.h's BEGIN/END
# block; spec/core/ffi_cdef_spec.lua fails while it is stale.
.PHONY: ffi-cdef
ffi-cdef:
	@$(LUA) tools/ffi_cdef.lua

# The API reference from the LDoc comments of lua/ and csrc/lua/ (config.ld),
# in build/docs/api; fails on any LDoc warning, so a comment cannot rot.
# Debian's LDoc renders Markdown with lua-markdown, a Lua 5.1 module: run
# it on lua5.1 whichever Lua lua-any would pick.
LDOC = lua5.1 $$(command -v ldoc)
docs: deps
	@rm -rf $(BUILD)/docs/api && mkdir -p $(BUILD)/docs/api
	@$(LDOC) -q . >$(BUILD)/docs/ldoc.log 2>&1; rc=$$?; cat $(BUILD)/docs/ldoc.log; \
	  [ $$rc = 0 ] && ! grep -v '^reading configuration from' $(BUILD)/docs/ldoc.log | grep -q . && echo "API reference: $(BUILD)/docs/api/index.html"

test-other-luas: deps $(SO_OTHER) $(SO_JIT)
	@for v in $(OTHER_LUAS); do spec/run $$v $$v $(BUILD)/$$v $(BUSTED_SPECS); done; spec/summary $(OTHER_LUAS)

test-lua54: deps all $(SO_JIT) $(SO_OTHER)
	@spec/run lua5.4 $(LUA) $(BUILD)/lua5.4 $(BUSTED_SPECS); spec/summary lua5.4

# The producer and core specs a second time on LuaJIT's classic path (the
# Lua C API binding), which INSYNC_FFI=off forces (lua/insync/ffi.lua).
test-luajit: deps luajit $(SO_OTHER)
	@spec/run luajit $(LUAJIT) $(BUILD)/luajit $(BUSTED_SPECS)
	@INSYNC_FFI=off spec/run luajit-classic $(LUAJIT) $(BUILD)/luajit spec/producer spec/core; \
	  spec/summary luajit luajit-classic

test-install: deps all luajit
	@spec/run install $(LUA) $(BUILD)/lua5.4 spec/install; spec/summary install

test-openresty: deps all luajit pyvenv
	@spec/run openresty $(LUA) $(BUILD)/lua5.4 spec/openresty; spec/summary openresty

# Mermaid's own parser (under jsdom) and renderer (mermaid-cli), pinned by
# tools/mermaid/package-lock.json, installed with npm ci into build/mermaid;
# the renderer drives Debian's chromium: puppeteer downloads no browser.
# spec/pictures checks the diagrams with them.  (libxml2-utils, in DEPS:
# xmllint reads the SVG timelines in spec/model/pictures_spec.lua.)
MERMAID := $(BUILD)/mermaid
PICTURE_DEPS := nodejs chromium libxml2-utils
$(MERMAID)/.installed: tools/mermaid/package.json tools/mermaid/package-lock.json
	@.ci/deps $(PICTURE_DEPS)
	@command -v npm >/dev/null || .ci/deps npm
	@mkdir -p $(MERMAID)
	@cp tools/mermaid/package.json tools/mermaid/package-lock.json $(MERMAID)/
	cd $(MERMAID) && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

mermaid: $(MERMAID)/.installed
	@cp tools/mermaid/parse.mjs tools/mermaid/puppeteer.json $(MERMAID)/

test-pictures: deps all mermaid
	@spec/run pictures $(LUA) $(BUILD)/lua5.4 spec/pictures; spec/summary pictures

# The two diagrams docs/pictures.md shows, rendered by mermaid-cli, and the
# timeline of the acks=1 failover loss, and the durability matrix (examples/matrix.lua).
pictures-img: deps all mermaid
	@INSYNC_PICTURES=$(BUILD)/pictures $(MAKE) --no-print-directory demo >/dev/null
	$(MERMAID)/node_modules/.bin/mmdc -p $(MERMAID)/puppeteer.json -b white -s 1.5 \
	  -i $(BUILD)/pictures/04_acks1_failover_loss.mmd -o docs/img/04_acks1_failover_loss.png
	$(MERMAID)/node_modules/.bin/mmdc -p $(MERMAID)/puppeteer.json -b white -s 1.5 \
	  -i $(BUILD)/pictures/03_two_followers_down.mmd -o docs/img/03_two_followers_down.png
	cp $(BUILD)/pictures/04_acks1_failover_loss.svg docs/img/04_acks1_failover_loss_timeline.svg
	cp $(BUILD)/pictures/matrix.svg docs/img/matrix.svg

SAN_ENV := INSYNC_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The fuzzer's bounded run in make sanitize (35 to 60 s), counted in the
# summary as the suite fuzz-asan; make fuzz runs it longer by hand.
FUZZ_N ?= 15000
N ?= 50000
SEED ?= 1

sanitize: deps $(SO_SAN) $(LUA_SAN) $(SO_JIT)
	@rm -rf $(BUILD)/results
	@$(SAN_ENV) spec/run asan $(CURDIR)/$(LUA_SAN) $(BUILD)/asan $(BUSTED_SPECS)
	@$(SAN_ENV) INSYNC_FUZZ_N=$(FUZZ_N) spec/run fuzz-asan $(CURDIR)/$(LUA_SAN) $(BUILD)/asan spec/fuzz
	@spec/summary

fuzz: deps $(SO_SAN) $(LUA_SAN) $(SO_JIT)
	@$(SAN_ENV) spec/fuzz/run $(CURDIR)/$(LUA_SAN) $(BUILD)/asan $(N) 250 $(SEED)
	@spec/fuzz/run $(LUAJIT) $(BUILD)/luajit $(N) 250 $(SEED)

demo: deps all
	@for f in examples/*.lua; do [ -f "$$f" ] || continue; \
	  [ "$$f" = examples/audit_real.lua ] && continue; \
	  echo "== $$f"; \
	  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/lua5.4/?.so;;" $(LUA) $$f || exit 1; \
	  echo; \
	done

# The audit on real Kafka (examples/audit_real.lua): needs the 3-broker
# cluster of spec/kafka/cluster, started around it and torn down, under the
# machine-wide lock of the real cluster.
demo-kafka: kafka-deps deps all
	@flock /tmp/insync-kafka.lock spec/kafka/cluster run env \
	  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/lua5.4/?.so;;" \
	  INSYNC_TOP="$(CURDIR)" $(LUA) examples/audit_real.lua

# Each bench/*.c is a C baseline program, built against librdkafka only.
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -o $@ $< $(RDKAFKA_LIBS) -lm

# confluent-kafka-python (PyPI) in build/pybench, built against Debian's
# librdkafka: bench/producer_bench.lua's Python peer.
pybench:
	@.ci/pybench

bench: deps all luajit $(BENCH_BIN) pybench
	@bench/run

install: deps
	luarocks --lua-version=5.4 make rockspec/insync-scm-1.rockspec

# A source rock of this checkout's HEAD, packed offline: the scm rockspec
# with its source pointed at this repository (`luarocks pack` would clone
# the public one).  `luarocks install build/rock/insync-scm-1.src.rock`.
rock:
	@rm -rf $(BUILD)/rock && mkdir -p $(BUILD)/rock
	sed 's|^  url = "git+https://.*"|  url = "git+file://$(CURDIR)"|' rockspec/insync-scm-1.rockspec \
	  >$(BUILD)/rock/insync-scm-1.rockspec
	cd $(BUILD)/rock && luarocks pack insync-scm-1.rockspec

clean:
	rm -rf $(BUILD)
