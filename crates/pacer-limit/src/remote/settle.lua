-- Gives back (negative) or takes more (positive) units of a request booked in `epoch`, after
-- the fact: ARGV = epoch, delta x4, headroom, ttl ms. A request from before the current
-- cool-down is not settled: the pause already cleared the debt.
local epoch, headroom, ttl = tonumber(ARGV[1]), tonumber(ARGV[6]), tonumber(ARGV[7])
if (h['epoch'] or 0) ~= epoch then
  return 0
end
for i = 0, 3 do
  local delta = tonumber(ARGV[2 + i])
  if delta ~= 0 and h['pm' .. i] then
    set('tat' .. i, tat(i) + delta / rate(i, headroom))
  end
end
save(ttl)
return 1
