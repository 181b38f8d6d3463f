--- What the benches share: the median of their alternating rounds.
local M = {}

--- The median of a list of numbers, or with `key` of each element's field
-- `key`; the list is left as it was.
function M.median(list, key)
  local t = {}
  for i, v in ipairs(list) do t[i] = key and v[key] or v end
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end

return M
