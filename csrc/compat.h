/**
 * @file compat.h
 * @brief The few differences between Lua 5.4 and LuaJIT 2.1 (Lua 5.1 ABI)
 * that the bindings meet.  Small and targeted, in the manner of LPeg's
 * lptypes.h.  Included by the binding files only.
 */
#ifndef INSYNC_COMPAT_H
#define INSYNC_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT */
#  ifndef LUA_OK
#    define LUA_OK 0
#  endif
#  define lua_rawlen(L, i) lua_objlen((L), (i))
#  define insync_getuservalue(L, i) lua_getfenv((L), (i))
#  define insync_setuservalue(L, i) lua_setfenv((L), (i))
#else
#  define insync_getuservalue(L, i) lua_getuservalue((L), (i))
#  define insync_setuservalue(L, i) lua_setuservalue((L), (i))
#endif

/* A number whose value is an integer in lua_Integer's range: 3, and on Lua
 * 5.4 also the float 3.0 (6 / 2), which lua_tointeger then converts. */
static inline int insync_isinteger(lua_State *L, int i) {
        if (lua_type(L, i) != LUA_TNUMBER)
                return 0;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, i))
                return 1;
#endif
        lua_Number n = lua_tonumber(L, i);
        return n >= -0x1p63 && n < 0x1p63 && n == (lua_Number)(lua_Integer)n;
}

#endif
