-- One pool's demand pruned (webhooks/store.py, prune_demand): the jobs whose hash expired or
-- is completed leave its jobs set, and an idle pool leaves the pools set.
local pool_jobs_key, pool_workers_key, pools_key = KEYS[1], KEYS[2], KEYS[3]
local job_pattern, pools_member = ARGV[1], ARGV[2]

local removed = 0
for _, job_id in ipairs(redis.call('SMEMBERS', pool_jobs_key)) do
  local status = redis.call('HGET', string.format(job_pattern, job_id), 'status')
  if not status or status == 'completed' then
    redis.call('SREM', pool_jobs_key, job_id)
    removed = removed + 1
  end
end
-- An idle pool leaves the pools set; a pool with workers is not idle, whatever its demand.
-- A delivery that brings a new job adds the pool back in its own script.
local dropped = 0
if redis.call('SCARD', pool_jobs_key) == 0 and redis.call('SCARD', pool_workers_key) == 0 then
  dropped = redis.call('SREM', pools_key, pools_member)
end
return {removed, dropped}
