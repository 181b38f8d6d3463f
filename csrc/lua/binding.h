/**
 * @file binding.h
 * @brief What the binding files share: the module's registration functions
 * and the one constructor of error objects.  Only files under csrc/lua/
 * include lua.h.
 */
#ifndef INSYNC_BINDING_H
#define INSYNC_BINDING_H

#include "../compat.h"

/** Each adds its functions to the module table on the top of the stack. */
void insync_lua_open_errors(lua_State *L);
void insync_lua_open_cluster(lua_State *L);
void insync_lua_open_producer(lua_State *L);
void insync_lua_open_mock(lua_State *L);

/**
 * Pushes the error object of API.md: { code, name, message, retriable,
 * fatal, persisted } with the shared metatable (__tostring gives
 * "NAME: message").  @p message may be NULL: librdkafka's description of
 * @p code is used.  @p persisted is an insync_persisted_t.  Never raises
 * except on memory exhaustion.
 */
void insync_lua_push_error(lua_State *L, int code, const char *message,
                           int persisted, int fatal);

/**
 * The one line written to stderr for a failed send that has neither a
 * callback nor an on_error: the report table is at stack index @p report,
 * the error object at @p err.  Leaves the stack as it found it.
 */
void insync_lua_warn_undelivered(lua_State *L, int report, int err,
                                 int partition);

/** librdkafka's name for @p code ("NOT_ENOUGH_REPLICAS", "_MSG_TIMED_OUT"). */
const char *insync_lua_err_name(int code);

/**
 * Reads an error name ("NOT_ENOUGH_REPLICAS") or code at @p arg; raises
 * naming @p what when it is neither a known name nor a number.
 */
int insync_lua_check_errcode(lua_State *L, int arg, const char *what);

#endif
