/**
 * @file conf.c
 * @brief What the bindings of librdkafka handles (producer, consumer) read
 * the same way: configuration values and timeouts.
 */
#include <stdio.h>

#include "binding.h"

const char *insync_lua_conf_value(lua_State *L, char *buf, size_t size) {
        switch (lua_type(L, -1)) {
        case LUA_TSTRING:
                return lua_tostring(L, -1);
        case LUA_TBOOLEAN:
                return lua_toboolean(L, -1) ? "true" : "false";
        case LUA_TNUMBER:
                if (insync_isinteger(L, -1))
                        snprintf(buf, size, "%lld",
                                 (long long)lua_tointeger(L, -1));
                else
                        snprintf(buf, size, "%.17g", (double)lua_tonumber(L, -1));
                return buf;
        default:
                return NULL;
        }
}

int insync_lua_opt_timeout(lua_State *L, int arg, const char *what, int dflt) {
        if (lua_isnoneornil(L, arg))
                return dflt;
        if (lua_type(L, arg) != LUA_TNUMBER)
                return luaL_error(L, "%s: timeout_ms: expected number, got %s",
                                  what, luaL_typename(L, arg));
        lua_Number t = lua_tonumber(L, arg);
        if (t != t)
                return luaL_error(L, "%s: timeout_ms: expected number, got nan",
                                  what);
        if (t < 0)
                return -1;
        return t > 2147483647.0 ? 2147483647 : (int)t;
}
