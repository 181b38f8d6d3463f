-- luacheck (Debian's lua-check): `make lint`.  The code runs on Lua 5.1 to
-- 5.4 and LuaJIT, so the standard globals are the union of theirs.
std = "max"
-- Lines run to about 150 columns where a long busted description or a
-- message reads better unbroken.
max_line_length = 150

-- OpenResty's ngx: read-only, but for the fields a handler sets.
stds.ngx = {
  read_globals = {
    ngx = {
      other_fields = true,
      fields = {
        status = { read_only = false },
        header = { read_only = false, other_fields = true },
      },
    },
  },
}

-- busted's globals (describe, it, assert, ...) in the specs only.
files["spec"] = { std = "max+busted" }

-- ngx only in the files that run inside nginx.
files["lua/insync/openresty.lua"] = { std = "max+ngx" }
files["spec/openresty/app.lua"] = { std = "max+busted+ngx" }
files["spec/openresty/refused_app.lua"] = { std = "max+busted+ngx" }
files["spec/openresty/production_app.lua"] = { std = "max+busted+ngx" }
files["spec/openresty/registry_shape.lua"] = { std = "max+busted+ngx" }
files["bench/openresty_bench.lua"] = { std = "max+ngx" }

-- A wrk script runs in wrk's LuaJIT: wrk calls the functions it defines
-- (setup, init, request, response, done) and reads per-thread globals
-- (tid, set by setup; answered and bad, read by done through thread:get).
files["spec/openresty/wrk_ids.lua"] = {
  std = "luajit",
  globals = { "setup", "init", "request", "response", "done", "tid", "answered", "bad" },
  read_globals = { "wrk" },
}
