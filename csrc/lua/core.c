/**
 * @file core.c
 * @brief luaopen_insync_core: the C half of the module.  Each engine's
 * binding adds its functions through its insync_lua_open_*().
 */
#include <librdkafka/rdkafka.h>

#include "binding.h"

#define INSYNC_EXPORT __attribute__((visibility("default")))

INSYNC_EXPORT int luaopen_insync_core(lua_State *L);

int luaopen_insync_core(lua_State *L) {
        lua_newtable(L);
        lua_pushstring(L, rd_kafka_version_str());
        lua_setfield(L, -2, "librdkafka_version");
        insync_lua_open_errors(L);
        insync_lua_open_report(L);
        insync_lua_open_producer(L);
        insync_lua_open_mock(L);
        insync_lua_open_cluster(L);
        return 1;
}
