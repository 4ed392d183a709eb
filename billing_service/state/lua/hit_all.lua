-- KEYS: the counters; ARGV: each one's limit, window (ms) and whether it counts (1) or is only
-- checked (0), in turn. Nil when every count was under its limit (each counting one counted
-- now), else {the full window that ends last (1-based), its ms}.
local full, wait = nil, -1
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local ttl = math.max(redis.call('PTTL', key), 0)
  if count >= tonumber(ARGV[3 * i - 2]) and ttl > wait then
    full, wait = i, ttl
  end
end
if full then
  return {full, wait}
end
for i, key in ipairs(KEYS) do
  if ARGV[3 * i] == '1' and redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[3 * i - 1])
  end
end
return nil
