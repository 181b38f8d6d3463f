/**
 * @file core.c
 * @brief luaopen_insync_core: the C half of the module.  Each engine's
 * binding adds its functions through its insync_lua_open_*().
 */
#include <librdkafka/rdkafka.h>

#include "binding.h"

#define INSYNC_EXPORT __attribute__((visibility("default")))

INSYNC_EXPORT int luaopen_insync_core(lua_State *L);

/* core.check_topic(name): raises as send does for a name Kafka refuses
 * (insync.openresty checks a msg before queuing it). */
static int l_check_topic(lua_State *L) {
        size_t len;
        if (lua_type(L, 1) != LUA_TSTRING)
                return luaL_error(L, "check_topic: name: expected string, got %s",
                                  insync_lua_show(L, 1));
        const char *name = lua_tolstring(L, 1, &len);
        insync_lua_check_topic(L, name, len);
        return 0;
}

int luaopen_insync_core(lua_State *L) {
        lua_newtable(L);
        lua_pushcfunction(L, l_check_topic);
        lua_setfield(L, -2, "check_topic");
        lua_pushstring(L, rd_kafka_version_str());
        lua_setfield(L, -2, "librdkafka_version");
        insync_lua_open_errors(L);
        insync_lua_open_report(L);
        insync_lua_open_producer(L);
        insync_lua_open_mock(L);
        insync_lua_open_consumer(L);
        insync_lua_open_cluster(L);
        insync_lua_open_conf(L);
        insync_lua_open_proc(L);
        insync_lua_open_msg(L);
        return 1;
}
