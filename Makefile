# insync: build, test, demo.  `make help` lists the targets.
#
# One shared object, insync/core.so, built twice: for Lua 5.4 and for
# OpenResty's LuaJIT 2.1 (Lua 5.1 ABI).  It never links liblua: the
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

BUSTED_SPECS := spec/core spec/model spec/producer
DEPS := lua5.4 liblua5.4-dev librdkafka-dev lua-busted luarocks kcat \
        nginx-light libnginx-mod-http-lua luajit2 libluajit2-5.1-dev \
        lua-cjson lua-socket wrk pkg-config gcc make libxml2-utils
KAFKA_DEPS := openjdk-17-jdk-headless maven

.PHONY: all luajit sanitize test test-lua54 test-luajit test-install \
        test-openresty test-kafka test-kafka-run demo bench install clean deps kafka-deps help \
        test-pictures mermaid pictures-img

all: $(SO_54)

luajit: $(SO_JIT)

help:
	@echo "make            build insync/core.so for Lua 5.4 (build/lua5.4)"
	@echo "make luajit     build it for OpenResty's LuaJIT 2.1 (build/luajit)"
	@echo "make demo       run the examples"
	@echo "make test       every spec on Lua 5.4 and LuaJIT, the rockspec, nginx, real Kafka"
	@echo "make test-lua54, test-luajit, test-install, test-openresty, test-kafka, test-pictures: one part of make test"
	@echo "make pictures-img  render docs/img from the examples with mermaid-cli"
	@echo "make sanitize   the specs under AddressSanitizer and UBSan"
	@echo "make bench      the benchmarks, each against its baseline in the same run"
	@echo "make install    luarocks make into the system tree"

$(SO_54): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

$(SO_JIT): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(LUAJIT_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

$(SO_SAN): $(SRC) $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SANITIZE) $(WARN) -I$(LUA_INC) -shared -o $@ $(SRC) $(RDKAFKA_LIBS) -lm

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

# make test: every suite runs, each one's counts are kept in build/results,
# and the last line is the total, "N passed, N failed".
test: deps all luajit
	@rm -rf $(BUILD)/results
	@spec/run lua5.4 $(LUA) $(BUILD)/lua5.4 $(BUSTED_SPECS)
	@spec/run luajit $(LUAJIT) $(BUILD)/luajit $(BUSTED_SPECS)
	@spec/run install $(LUA) $(BUILD)/lua5.4 spec/install
	@spec/run openresty $(LUA) $(BUILD)/lua5.4 spec/openresty
	@$(MAKE) --no-print-directory mermaid
	@spec/run pictures $(LUA) $(BUILD)/lua5.4 spec/pictures
	@$(MAKE) --no-print-directory test-kafka-run
	@spec/summary

# The integration specs against a real 3-broker Apache Kafka on loopback
# (spec/kafka/cluster): fetched with Maven into .cache/kafka, run under
# build/kafka, always torn down.  test-kafka-run only records its counts in
# build/results (make test adds them up); test-kafka also prints the total.
test-kafka: kafka-deps deps all
	@rm -f $(BUILD)/results/kafka
	@spec/kafka/test $(LUA) $(BUILD)/lua5.4
	@spec/summary kafka

test-kafka-run: kafka-deps deps all
	@spec/kafka/test $(LUA) $(BUILD)/lua5.4

test-lua54: deps all $(SO_JIT)
	@spec/run lua5.4 $(LUA) $(BUILD)/lua5.4 $(BUSTED_SPECS); spec/summary lua5.4

test-luajit: deps luajit
	@spec/run luajit $(LUAJIT) $(BUILD)/luajit $(BUSTED_SPECS); spec/summary luajit

test-install: deps all luajit
	@spec/run install $(LUA) $(BUILD)/lua5.4 spec/install; spec/summary install

test-openresty: deps all luajit
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
# timeline of the acks=1 failover loss.
pictures-img: deps all mermaid
	@INSYNC_PICTURES=$(BUILD)/pictures $(MAKE) --no-print-directory demo >/dev/null
	$(MERMAID)/node_modules/.bin/mmdc -p $(MERMAID)/puppeteer.json -b white -s 1.5 \
	  -i $(BUILD)/pictures/04_acks1_failover_loss.mmd -o docs/img/04_acks1_failover_loss.png
	$(MERMAID)/node_modules/.bin/mmdc -p $(MERMAID)/puppeteer.json -b white -s 1.5 \
	  -i $(BUILD)/pictures/03_two_followers_down.mmd -o docs/img/03_two_followers_down.png
	cp $(BUILD)/pictures/04_acks1_failover_loss.svg docs/img/04_acks1_failover_loss_timeline.svg

sanitize: deps $(SO_SAN) $(LUA_SAN) $(SO_JIT)
	@rm -rf $(BUILD)/results
	@INSYNC_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  spec/run asan $(CURDIR)/$(LUA_SAN) $(BUILD)/asan $(BUSTED_SPECS)
	@spec/summary

demo: deps all
	@for f in examples/*.lua; do [ -f "$$f" ] || continue; \
	  echo "== $$f"; \
	  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/lua5.4/?.so;;" $(LUA) $$f || exit 1; \
	  echo; \
	done

# Each bench/*.c is a C baseline program, built against librdkafka only.
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -o $@ $< $(RDKAFKA_LIBS) -lm

bench: deps all luajit $(BENCH_BIN)
	@bench/run

install: deps
	luarocks --lua-version=5.4 make rockspec/insync-scm-1.rockspec

clean:
	rm -rf $(BUILD)
