-- A limit used up: the first refusal of an event pauses everyone on the key, once. ARGV =
-- the refused request's epoch, pause us, resume full (1: the server said when its bucket
-- is full again: on at the full rate from an empty bucket; 0: ramp up from the floor),
-- burst s, clock skew s, headroom, ttl ms. Returns {1, pause} when this began the pause, {0, left}
-- when it joined one begun since the request was booked.
local epoch, pause, full = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local burst_s, skew_s = tonumber(ARGV[4]), tonumber(ARGV[5])
local headroom, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
if (h['epoch'] or 0) ~= epoch then
  return {0, math.floor(math.max((h['paused'] or 0) - now, 0))}
end
local resume_at = now + pause
set('epoch', epoch + 1)
set('paused', resume_at)
set('ramp', full == 1 and 0 or resume_at)
for i = 0, 3 do
  if h['pm' .. i] then
    if full == 1 then
      set('tat' .. i, resume_at + burst(i, burst_s, skew_s) / rate(i, headroom))
    else
      set('tat' .. i, resume_at)
    end
  end
end
save(ttl)
return {1, pause}
