-- Books one request in every bucket once its turn is near (the in-process limiter's
-- `reserve`): ARGV = cost x4, configured per-minute x4 (0: none), burst s, clock skew s,
-- headroom, horizon us, max wait us (-1: none), slow start s, slow start floor, ttl ms.
-- Returns {0, start in us, epoch, now, reserved x4} when booked, {1, look again in us}
-- when its turn is not near, {2, wait in us} when it could not start within the max wait.
local cost, conf = {}, {}
for i = 0, 3 do
  cost[i] = tonumber(ARGV[1 + i])
  conf[i] = tonumber(ARGV[5 + i])
end
local burst_s, skew_s, headroom = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local horizon, max_wait = tonumber(ARGV[12]), tonumber(ARGV[13])
local slow_s, floor, ttl = tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])
-- A configured limit is a ceiling for everyone on the key: the lowest holds.
for i = 0, 3 do
  local pm = h['pm' .. i]
  if conf[i] > 0 and (pm == nil or conf[i] < pm) then
    if pm ~= nil then
      -- Re-time the debt ahead at the new rate (from the end of a pause, which keeps its
      -- length).
      local from = math.max(now, h['paused'] or 0)
      local debt = math.max(tat(i) - from, 0) * rate(i, headroom)
      set('pm' .. i, conf[i])
      set('tat' .. i, from + debt / rate(i, headroom))
    else
      set('pm' .. i, conf[i])
    end
    -- Configured now: a reading no longer raises it.
    set('learned' .. i, 0)
  end
end
local base = math.max(now, h['paused'] or 0)
local factor = 1
local ramp = h['ramp'] or 0
if ramp > 0 and slow_s > 0 then
  factor = math.min(floor + (1 - floor) * math.max(base - ramp, 0) / (slow_s * 1e6), 1)
end
local clear, start = base, base
for i = 0, 3 do
  if cost[i] > 0 and h['pm' .. i] then
    local r0 = rate(i, headroom)
    local ahead = math.max(tat(i), base) - burst(i, burst_s, skew_s) * factor / r0
    local r = r0 * factor
    clear = math.max(clear, ahead)
    start = math.max(start, ahead + cost[i] / r)
  end
end
-- (A microsecond of slack for the doubles' rounding.)
if max_wait >= 0 and start > now + max_wait + 1 then
  save(ttl)
  return {2, math.floor(start - now)}
end
if clear > now + horizon + 1 then
  save(ttl)
  return {1, math.floor(clear - horizon - now)}
end
for i = 0, 3 do
  set('res' .. i, (h['res' .. i] or 0) + cost[i])
  if cost[i] > 0 and h['pm' .. i] then
    set('tat' .. i, math.max(tat(i), base) + cost[i] / (rate(i, headroom) * factor))
  end
end
save(ttl)
return {0, math.floor(start - now), h['epoch'] or 0, now,
  h['res0'], h['res1'], h['res2'], h['res3']}
