-- KEYS: the counters; ARGV: each one's limit and window (ms), in turn. Nil when every count was
-- under its limit (each counted now), else {the full window that ends last (1-based), its ms}.
local full, wait = nil, -1
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local ttl = math.max(redis.call('PTTL', key), 0)
  if count >= tonumber(ARGV[2 * i - 1]) and ttl > wait then
    full, wait = i, ttl
  end
end
if full then
  return {full, wait}
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return nil
