-- KEYS: the counters to take one attempt back from (never below 0, never reopening a window).
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
