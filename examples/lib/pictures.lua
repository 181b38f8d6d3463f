-- Writes a scenario's two pictures (docs/pictures.md) for the examples:
-- NAME.mmd, the Mermaid sequence diagram (c:diagram), and NAME.svg, the
-- timeline of its first partition (c:timeline_svg), into the directory
-- $INSYNC_PICTURES, build/pictures by default.  The cluster must have been
-- made with trace = true.
return function(c, name, diagram_opts, timeline_opts)
  local dir = os.getenv("INSYNC_PICTURES") or "build/pictures"
  os.execute(("mkdir -p '%s'"):format(dir:gsub("'", "'\\''")))
  for ext, text in pairs{ mmd = c:diagram(diagram_opts), svg = c:timeline_svg(timeline_opts) } do
    local path = ("%s/%s.%s"):format(dir, name, ext)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
  end
  print(("pictures: %s/%s.mmd and .svg"):format(dir, name))
end
