-- Frees a lock only for the owner that holds it (one atomic step).
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0
