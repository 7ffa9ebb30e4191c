-- What a reply's headers said, for everyone on the key: ARGV = limit x4 (0: not said),
-- remaining x4 (-1: not said), the request's marks x4 (units booked on the key up to and
-- with it), when it was booked (us), burst s, clock skew s, headroom, ttl ms.
-- A limit nobody configured is taken as said (and follows later changes); a configured
-- one only comes down. The most the server said remains sizes the burst. `remaining` pulls
-- the level down when the server has less left than the key's bucket shows (a client
-- outside Pacer on the same organisation), counting what refilled since the request was
-- booked and what was booked after it.
local sent, burst_s, skew_s = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local headroom, ttl = tonumber(ARGV[16]), tonumber(ARGV[17])
for i = 0, 3 do
  local limit, remaining, mark = tonumber(ARGV[1 + i]), tonumber(ARGV[5 + i]), tonumber(ARGV[9 + i])
  local pm = h['pm' .. i]
  if limit > 0 then
    if pm == nil then
      set('pm' .. i, limit)
      set('learned' .. i, 1)
    elseif pm ~= limit and (h['learned' .. i] == 1 or limit < pm) then
      local from = math.max(now, h['paused'] or 0)
      local debt = math.max(tat(i) - from, 0) * rate(i, headroom)
      set('pm' .. i, limit)
      set('tat' .. i, from + debt / rate(i, headroom))
    end
  end
  pm = h['pm' .. i]
  if remaining >= 0 and pm then
    local held = math.min(remaining, pm)
    if held > (h['seen' .. i] or 0) then
      set('seen' .. i, held)
    end
    local r = rate(i, headroom)
    local since = math.max((h['res' .. i] or 0) - mark, 0)
    local left = math.max(remaining + math.max(now - sent, 0) * pm / 60e6 - since, 0)
    local available = burst(i, burst_s, skew_s) - math.max(tat(i) - now, 0) * r
    if available > left then
      set('tat' .. i, math.max(tat(i), now) + (available - left) / r)
    end
  end
end
save(ttl)
return 1
