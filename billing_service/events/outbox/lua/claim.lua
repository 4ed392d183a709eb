-- Lease the due deliveries: each due again at the lease's end, its attempts counted.
-- KEYS: the due set; ARGV: now, the most to claim, the lease's end, its token, the prefix of
-- deliveries. Each claimed: {event id, URL, event type, body, attempts made before, kind}.
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  local key = ARGV[5] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1) - 1
    redis.call('HSET', key, 'due_at', ARGV[3], 'lease', ARGV[4])
    local f = redis.call('HMGET', key, 'event_id', 'url', 'event_type', 'body', 'kind')
    table.insert(out, {f[1], f[2], f[3], f[4], attempts, f[5]})
  end
end
return out
