-- One event's deliveries, unless its dedup key was added before (0, then; else 1).
-- KEYS: the dedup key, the due set, the pending set, the event's set; ARGV: the dedup key's TTL
-- (ms), the creation time, the event id, its type, the prefix of deliveries, the due time, the
-- body, then each row's id, URL and kind.
if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[1]) then return 0 end
for i = 8, #ARGV, 3 do
  local id = ARGV[i]
  redis.call('HSET', ARGV[5] .. id, 'event_id', ARGV[3], 'url', ARGV[i + 1], 'kind', ARGV[i + 2],
    'event_type', ARGV[4], 'body', ARGV[7], 'status', 'pending', 'attempts', 0,
    'created_at', ARGV[2], 'due_at', ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  redis.call('ZADD', KEYS[3], ARGV[2], id)
  redis.call('SADD', KEYS[4], id)
end
return 1
