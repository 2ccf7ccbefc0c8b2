-- One chunk of the history index pruned (webhooks/store.py, prune_demand): the entries whose
-- job hash is gone leave it.
local history_key = KEYS[1]
local job_pattern, first, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local ids = redis.call('ZRANGE', history_key, first, first + count - 1)
local removed = 0
for _, job_id in ipairs(ids) do
  if redis.call('EXISTS', string.format(job_pattern, job_id)) == 0 then
    redis.call('ZREM', history_key, job_id)
    removed = removed + 1
  end
end
return {#ids, removed}
