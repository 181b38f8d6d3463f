/**
 * @file mock.c
 * @brief insync.mock: librdkafka's embedded mock cluster (rdkafka_mock.h),
 * for specs and demos that need no Kafka outside the process.  The
 * librdkafka side is csrc/rdkafka/mock.c.
 */
#include <string.h>

#include "binding.h"
#include "../rdkafka/mock.h"

#define INSYNC_MOCK_MT "insync.mock"

/** Most errors one push_errors call takes. */
#define INSYNC_MOCK_MAX_ERRORS 1024

/* The mock at index 1, open or closed; raises naming @p what if it is
 * something else. */
static insync_rk_mock_t *to_mock(lua_State *L, const char *what) {
        insync_rk_mock_t *m = lua_touserdata(L, 1);
        int same = 0;
        if (m && lua_getmetatable(L, 1)) {
                luaL_getmetatable(L, INSYNC_MOCK_MT);
                same = lua_rawequal(L, -1, -2);
                lua_pop(L, 2);
        }
        if (!same)
                insync_lua_bad_self(L, what, INSYNC_MOCK_MT);
        return m;
}

static insync_rk_mock_t *check_mock(lua_State *L, const char *what) {
        insync_rk_mock_t *m = to_mock(L, what);
        insync_lua_check_open(L, m->rk, what, "mock cluster");
        if (insync_rk_mock_forked(m))
                luaL_error(L, "%s: this mock cluster runs in the process this "
                              "one was forked from",
                           what);
        return m;
}

/* Raises unless librdkafka said yes. */
static int check_err(lua_State *L, const char *what, rd_kafka_resp_err_t err) {
        if (err)
                return luaL_error(L, "%s: %s (%s)", what, rd_kafka_err2str(err),
                                  rd_kafka_err2name(err));
        return 0;
}

static int check_int(lua_State *L, int arg, const char *what, const char *name,
                     lua_Integer min) {
        if (!insync_isinteger(L, arg) || lua_tointeger(L, arg) < min ||
            lua_tointeger(L, arg) > 2147483647)
                return luaL_error(L, "%s: %s: expected an integer >= %d, got %s",
                                  what, name, (int)min,
                                  lua_type(L, arg) == LUA_TNUMBER
                                          ? lua_tostring(L, arg)
                                          : luaL_typename(L, arg));
        return (int)lua_tointeger(L, arg);
}

static const char *check_str(lua_State *L, int arg, const char *what,
                             const char *name) {
        if (lua_type(L, arg) != LUA_TSTRING)
                luaL_error(L, "%s: %s: expected string, got %s", what, name,
                           luaL_typename(L, arg));
        return lua_tostring(L, arg);
}

/* A broker id of this cluster (1..n), or -1 for all where allowed. */
static int check_broker(lua_State *L, insync_rk_mock_t *m, int arg,
                        const char *what, int all) {
        int id = check_int(L, arg, what, "broker", all ? -1 : 1);
        if (id > m->brokers || id == 0 || (id < 0 && !all))
                luaL_error(L, "%s: broker: no broker %d (ids are 1..%d%s)", what,
                           id, m->brokers, all ? ", or -1 for all" : "");
        return id;
}

/* A request type by Kafka's name ("Produce") or ApiKey number. */
static int check_api(lua_State *L, int arg, const char *what) {
        if (lua_type(L, arg) == LUA_TNUMBER) {
                int key = check_int(L, arg, what, "request", 0);
                if (key > INT16_MAX) /* an ApiKey is an int16 */
                        luaL_error(L, "%s: request: expected an ApiKey 0..%d, got %d",
                                   what, INT16_MAX, key);
                return key;
        }
        const char *name = check_str(L, arg, what, "request");
        int key = insync_rk_api_key(name);
        if (key < 0)
                luaL_error(L, "%s: request: unknown request type '%s' (Kafka's "
                              "names: Produce, Fetch, Metadata, "
                              "InitProducerId, ...)",
                           what, insync_lua_show(L, arg));
        return key;
}

/* insync.mock{ brokers = n } */
static int l_mock_new(lua_State *L) {
        char errbuf[512];
        int brokers = 3;
        if (!lua_isnoneornil(L, 1)) {
                if (lua_type(L, 1) != LUA_TTABLE)
                        return luaL_error(L, "mock: options: expected table, "
                                             "got %s",
                                          luaL_typename(L, 1));
                lua_getfield(L, 1, "brokers");
                if (!lua_isnil(L, -1))
                        brokers = check_int(L, lua_gettop(L), "mock",
                                            "brokers", 1);
                if (brokers > INSYNC_RK_MOCK_MAX_BROKERS)
                        return luaL_error(L, "mock: brokers: expected at most "
                                             "%d, got %d",
                                          INSYNC_RK_MOCK_MAX_BROKERS, brokers);
                lua_pop(L, 1);
        }
        insync_rk_mock_t *m = lua_newuserdata(L, sizeof(*m));
        memset(m, 0, sizeof(*m));
        luaL_getmetatable(L, INSYNC_MOCK_MT);
        lua_setmetatable(L, -2);
        if (insync_rk_mock_init(m, brokers, errbuf, sizeof(errbuf)))
                return luaL_error(L, "mock: %s", errbuf);
        return 1;
}

static int l_bootstrap_servers(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "bootstrap_servers");
        lua_pushstring(L, rd_kafka_mock_cluster_bootstraps(m->mc));
        return 1;
}

static int l_brokers(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "brokers");
        lua_pushinteger(L, m->brokers);
        return 1;
}

/* m:create_topic(name, partitions, replication_factor) */
static int l_create_topic(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "create_topic");
        const char *topic = check_str(L, 2, "create_topic", "topic");
        int parts = lua_isnoneornil(L, 3)
                            ? 1
                            : check_int(L, 3, "create_topic", "partitions", 1);
        int rf = lua_isnoneornil(L, 4)
                         ? 1
                         : check_int(L, 4, "create_topic",
                                     "replication_factor", 1);
        if (parts > INSYNC_RK_MOCK_MAX_PARTITIONS)
                return luaL_error(L, "create_topic: partitions: expected at "
                                     "most %d, got %d",
                                  INSYNC_RK_MOCK_MAX_PARTITIONS, parts);
        if (rf > m->brokers)
                return luaL_error(L, "create_topic: replication_factor: %d is "
                                     "more than the %d brokers",
                                  rf, m->brokers);
        check_err(L, "create_topic",
                  rd_kafka_mock_topic_create(m->mc, topic, parts, rf));
        return 0;
}

static int l_broker_down(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "broker_down");
        int id = check_broker(L, m, 2, "broker_down", 1);
        check_err(L, "broker_down", rd_kafka_mock_broker_set_down(m->mc, id));
        return 0;
}

static int l_broker_up(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "broker_up");
        int id = check_broker(L, m, 2, "broker_up", 1);
        check_err(L, "broker_up", rd_kafka_mock_broker_set_up(m->mc, id));
        return 0;
}

/* m:broker_rtt(id, ms): every response of broker id (-1: all) is delayed. */
static int l_broker_rtt(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "broker_rtt");
        int id = check_broker(L, m, 2, "broker_rtt", 1);
        int ms = check_int(L, 3, "broker_rtt", "ms", 0);
        check_err(L, "broker_rtt", rd_kafka_mock_broker_set_rtt(m->mc, id, ms));
        return 0;
}

/* m:set_leader(topic, partition, broker): -1 leaves it leaderless. */
static int l_set_leader(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "set_leader");
        const char *topic = check_str(L, 2, "set_leader", "topic");
        int part = check_int(L, 3, "set_leader", "partition", 0);
        int id = check_broker(L, m, 4, "set_leader", 1);
        check_err(L, "set_leader",
                  rd_kafka_mock_partition_set_leader(m->mc, topic, part, id));
        return 0;
}

/* m:set_follower(topic, partition, broker): the preferred read replica. */
static int l_set_follower(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "set_follower");
        const char *topic = check_str(L, 2, "set_follower", "topic");
        int part = check_int(L, 3, "set_follower", "partition", 0);
        int id = check_int(L, 4, "set_follower", "broker", 0);
        check_err(L, "set_follower",
                  rd_kafka_mock_partition_set_follower(m->mc, topic, part, id));
        return 0;
}

/* m:set_follower_watermarks(topic, partition, low, high): -1 reverts to
 * the leader's. */
static int l_set_follower_watermarks(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "set_follower_watermarks");
        const char *w = "set_follower_watermarks";
        const char *topic = check_str(L, 2, w, "topic");
        int part = check_int(L, 3, w, "partition", 0);
        if (!insync_isinteger(L, 4) || lua_tointeger(L, 4) < -1)
                return luaL_error(L, "%s: low: expected an offset or -1", w);
        if (!insync_isinteger(L, 5) || lua_tointeger(L, 5) < -1)
                return luaL_error(L, "%s: high: expected an offset or -1", w);
        check_err(L, w, rd_kafka_mock_partition_set_follower_wmarks(
                                m->mc, topic, part, lua_tointeger(L, 4),
                                lua_tointeger(L, 5)));
        return 0;
}

/* Reads the list of error names or codes at arg into errs. */
static size_t check_errors(lua_State *L, int arg, const char *what,
                           rd_kafka_resp_err_t *errs) {
        if (lua_type(L, arg) != LUA_TTABLE)
                luaL_error(L, "%s: errors: expected a list of error names, "
                              "got %s",
                           what, luaL_typename(L, arg));
        size_t n = lua_rawlen(L, arg);
        if (n > INSYNC_MOCK_MAX_ERRORS)
                luaL_error(L, "%s: errors: at most %d at a time", what,
                           INSYNC_MOCK_MAX_ERRORS);
        for (size_t i = 0; i < n; i++) {
                lua_rawgeti(L, arg, (int)i + 1);
                errs[i] = (rd_kafka_resp_err_t)insync_lua_check_errcode(
                        L, lua_gettop(L), what);
                lua_pop(L, 1);
        }
        return n;
}

/* m:push_errors(request, { "NOT_ENOUGH_REPLICAS", ... }): the next requests
 * of that type, to any broker, fail with these errors in turn. */
static int l_push_errors(lua_State *L) {
        rd_kafka_resp_err_t errs[INSYNC_MOCK_MAX_ERRORS];
        insync_rk_mock_t *m = check_mock(L, "push_errors");
        int key = check_api(L, 2, "push_errors");
        size_t n = check_errors(L, 3, "push_errors", errs);
        rd_kafka_mock_push_request_errors_array(m->mc, (int16_t)key, n, errs);
        return 0;
}

/* m:push_broker_errors(broker, request, { "NOT_ENOUGH_REPLICAS", ... }
 * [, rtt_ms]): the same, for one broker only, each response delayed by
 * rtt_ms.  Broker errors come before the cluster's. */
static int l_push_broker_errors(lua_State *L) {
        rd_kafka_resp_err_t errs[INSYNC_MOCK_MAX_ERRORS];
        const char *w = "push_broker_errors";
        insync_rk_mock_t *m = check_mock(L, w);
        int id = check_broker(L, m, 2, w, 0);
        int key = check_api(L, 3, w);
        size_t n = check_errors(L, 4, w, errs);
        int rtt = lua_isnoneornil(L, 5) ? 0 : check_int(L, 5, w, "rtt_ms", 0);
        for (size_t i = 0; i < n; i++)
                check_err(L, w, rd_kafka_mock_broker_push_request_error_rtts(
                                        m->mc, id, (int16_t)key, 1, errs[i],
                                        rtt));
        return 0;
}

/* m:clear_errors(request): forgets the errors pushed for that request. */
static int l_clear_errors(lua_State *L) {
        insync_rk_mock_t *m = check_mock(L, "clear_errors");
        int key = check_api(L, 2, "clear_errors");
        rd_kafka_mock_clear_request_errors(m->mc, (int16_t)key);
        return 0;
}

/* m:broker_errors_left(broker, request) -> errors still to be returned */
static int l_broker_errors_left(lua_State *L) {
        const char *w = "broker_errors_left";
        insync_rk_mock_t *m = check_mock(L, w);
        int id = check_broker(L, m, 2, w, 0);
        int key = check_api(L, 3, w);
        size_t cnt = 0;
        check_err(L, w, rd_kafka_mock_broker_error_stack_cnt(m->mc, id,
                                                             (int16_t)key, &cnt));
        lua_pushinteger(L, (lua_Integer)cnt);
        return 1;
}

/* m:close(): idempotent; also __gc and __close. */
static int l_close(lua_State *L) {
        insync_rk_mock_t *m = to_mock(L, "close");
        insync_rk_mock_destroy(m);
        return 0;
}

static int l_tostring(lua_State *L) {
        insync_rk_mock_t *m = to_mock(L, "__tostring");
        if (m->rk)
                lua_pushfstring(L, "insync.mock (%d brokers, %s)", m->brokers,
                                rd_kafka_mock_cluster_bootstraps(m->mc));
        else
                lua_pushliteral(L, "insync.mock (closed)");
        return 1;
}

/* insync.api_key(name) -> ApiKey number, or nil */
static int l_api_key(lua_State *L) {
        if (lua_type(L, 1) != LUA_TSTRING)
                return luaL_error(L, "api_key: name: expected string, got %s",
                                  insync_lua_show(L, 1));
        int key = insync_rk_api_key(lua_tostring(L, 1));
        if (key < 0)
                return 0;
        lua_pushinteger(L, key);
        return 1;
}

void insync_lua_open_mock(lua_State *L) {
        static const luaL_Reg methods[] = {
                {"bootstrap_servers", l_bootstrap_servers},
                {"brokers", l_brokers},
                {"create_topic", l_create_topic},
                {"broker_down", l_broker_down},
                {"broker_up", l_broker_up},
                {"broker_rtt", l_broker_rtt},
                {"set_leader", l_set_leader},
                {"set_follower", l_set_follower},
                {"set_follower_watermarks", l_set_follower_watermarks},
                {"push_errors", l_push_errors},
                {"push_broker_errors", l_push_broker_errors},
                {"clear_errors", l_clear_errors},
                {"broker_errors_left", l_broker_errors_left},
                {"close", l_close},
                {NULL, NULL},
        };
        static const luaL_Reg meta[] = {
                {"__gc", l_close},
                {"__close", l_close},
                {"__tostring", l_tostring},
                {NULL, NULL},
        };
        if (luaL_newmetatable(L, INSYNC_MOCK_MT)) {
                luaL_setfuncs(L, meta, 0);
                lua_newtable(L);
                luaL_setfuncs(L, methods, 0);
                lua_setfield(L, -2, "__index");
                lua_pushliteral(L, INSYNC_MOCK_MT);
                lua_setfield(L, -2, "__name");
        }
        lua_pop(L, 1);
        lua_pushcfunction(L, l_mock_new);
        lua_setfield(L, -2, "mock");
        lua_pushcfunction(L, l_api_key);
        lua_setfield(L, -2, "api_key");
}
