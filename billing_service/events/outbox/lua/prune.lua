-- KEYS: the delivered and failed sets; ARGV: the retention's cutoff, the batch, the prefixes of
-- deliveries and events. A delivery id is its event id, ':', a digest of its URL.
local n = 0
for _, set in ipairs(KEYS) do
  local ids = redis.call('ZRANGEBYSCORE', set, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2] - n)
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[3] .. id)
    redis.call('ZREM', set, id)
    redis.call('SREM', ARGV[4] .. string.match(id, '^(.*):'), id)
    n = n + 1
  end
end
return n
