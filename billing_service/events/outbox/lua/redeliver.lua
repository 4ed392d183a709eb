-- An event's failed deliveries pending again, due now, attempts reset; how many.
-- KEYS: the event's set, the due set, the failed set, the pending set; ARGV: now, the prefix of
-- deliveries.
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. id
  if redis.call('HGET', key, 'status') == 'failed' then
    redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'due_at', ARGV[1])
    redis.call('HDEL', key, 'lease')
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZADD', KEYS[4], redis.call('HGET', key, 'created_at'), id)
    redis.call('ZADD', KEYS[2], ARGV[1], id)
    n = n + 1
  end
end
return n
