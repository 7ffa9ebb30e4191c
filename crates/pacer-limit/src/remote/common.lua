-- Shared by every script of the shared limiter (prepended to each): the model's state in
-- one hash, Redis's clock, and one bucket's figures. Times are microseconds of Redis TIME;
-- Lua numbers are doubles, exact for integers below 2^53 (year 2255 in microseconds).
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local raw = redis.call('HGETALL', key)
local h = {}
for i = 1, #raw, 2 do
  h[raw[i]] = tonumber(raw[i + 1])
end
local changed = {}
local function set(field, value)
  h[field] = value
  changed[#changed + 1] = field
  changed[#changed + 1] = string.format('%.0f', value)
end
local function save(ttl_ms)
  if #changed > 0 then
    redis.call('HSET', key, unpack(changed))
  end
  redis.call('PEXPIRE', key, ttl_ms)
end
-- Units per microsecond of dimension i at `headroom` of its limit.
local function rate(i, headroom)
  return h['pm' .. i] * headroom / 60e6
end
-- The units bucket i lets go at once: the configured burst, or the most the server has
-- said remains, at most a minute's worth, less what the server refills in the clock skew.
local function burst(i, burst_s, skew_s)
  local pm = h['pm' .. i]
  local units = math.max(burst_s * pm / 60, h['seen' .. i] or 0)
  return math.max(math.min(units, pm) - pm / 60 * skew_s, 1)
end
local function tat(i)
  return h['tat' .. i] or now
end
