/**
 * @file proc.c
 * @brief core.proc: the few POSIX calls insync.explore needs to spread its
 * runs over processes: fork with a pipe back to the parent, write, poll
 * and read the pipes, reap the child, isatty.  A child leaves with _exit,
 * so that it flushes none of the parent's stdio buffers twice and runs no
 * atexit handler (librdkafka's state belongs to the parent).
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binding.h"

/* proc.fork(): in the parent (pid, fd to read); in the child (0, fd to
 * write); nil and a message on failure. */
static int l_fork(lua_State *L) {
        int fds[2];
        if (pipe(fds) != 0) {
                lua_pushnil(L);
                lua_pushfstring(L, "pipe: %s", strerror(errno));
                return 2;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(fds[0]);
                close(fds[1]);
                lua_pushnil(L);
                lua_pushfstring(L, "fork: %s", strerror(e));
                return 2;
        }
        if (pid == 0) {
                close(fds[0]);
                lua_pushinteger(L, 0);
                lua_pushinteger(L, fds[1]);
        } else {
                close(fds[1]);
                lua_pushinteger(L, (lua_Integer)pid);
                lua_pushinteger(L, fds[0]);
        }
        return 2;
}

/* proc.write(fd, s): writes all of s; true, or nil and a message. */
static int l_write(lua_State *L) {
        int fd = (int)luaL_checkinteger(L, 1);
        size_t len;
        const char *s = luaL_checklstring(L, 2, &len);
        while (len > 0) {
                ssize_t n = write(fd, s, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        lua_pushnil(L);
                        lua_pushfstring(L, "write: %s", strerror(errno));
                        return 2;
                }
                s += n;
                len -= (size_t)n;
        }
        lua_pushboolean(L, 1);
        return 1;
}

/* proc.poll({fd, ...}, timeout_ms): the index of the first fd that is
 * readable (or at its end), or nil when none is within the timeout. */
static int l_poll(lua_State *L) {
        luaL_checktype(L, 1, LUA_TTABLE);
        int timeout = (int)luaL_checkinteger(L, 2);
        struct pollfd p[256];
        int n = (int)lua_rawlen(L, 1);
        luaL_argcheck(L, n >= 1 && n <= 256, 1, "expected 1 to 256 fds");
        for (int i = 0; i < n; i++) {
                lua_rawgeti(L, 1, i + 1);
                p[i].fd = (int)lua_tointeger(L, -1);
                p[i].events = POLLIN;
                p[i].revents = 0;
                lua_pop(L, 1);
        }
        int r;
        do
                r = poll(p, (nfds_t)n, timeout);
        while (r < 0 && errno == EINTR);
        for (int i = 0; r > 0 && i < n; i++) {
                if (p[i].revents) {
                        lua_pushinteger(L, i + 1);
                        return 1;
                }
        }
        lua_pushnil(L);
        return 1;
}

/* proc.read(fd): what is there (up to 64 KiB), or nil at the end (the fd
 * is closed then). */
static int l_read(lua_State *L) {
        int fd = (int)luaL_checkinteger(L, 1);
        char buf[65536];
        ssize_t n;
        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
                close(fd);
                lua_pushnil(L);
                return 1;
        }
        lua_pushlstring(L, buf, (size_t)n);
        return 1;
}

/* proc.wait(pid): the child's exit status (128 + signal when killed). */
static int l_wait(lua_State *L) {
        pid_t pid = (pid_t)luaL_checkinteger(L, 1);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0) {
                if (errno != EINTR) {
                        lua_pushnil(L);
                        lua_pushfstring(L, "waitpid: %s", strerror(errno));
                        return 2;
                }
        }
        lua_pushinteger(L, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        return 1;
}

/* proc.exit(code): leaves the child at once (_exit). */
static int l_exit(lua_State *L) {
        int code = (int)luaL_optinteger(L, 1, 0);
        _exit(code);
        return 0;
}

static int l_isatty(lua_State *L) {
        lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
        return 1;
}

void insync_lua_open_proc(lua_State *L) {
        static const luaL_Reg fns[] = {
                {"fork", l_fork},     {"write", l_write}, {"poll", l_poll},
                {"read", l_read},     {"wait", l_wait},   {"exit", l_exit},
                {"isatty", l_isatty}, {NULL, NULL},
        };
        lua_newtable(L);
        for (const luaL_Reg *f = fns; f->name; f++) {
                lua_pushcfunction(L, f->func);
                lua_setfield(L, -2, f->name);
        }
        lua_setfield(L, -2, "proc");
}
