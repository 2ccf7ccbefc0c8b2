-- GitHub agreed with RunnerHub about a job: note when, so it is not asked again for a while.
-- Only an existing job is marked: HSET on an expired one would bring a bare hash back.
local job_key = KEYS[1]
local now = ARGV[1]

if redis.call('EXISTS', job_key) == 1 then
  redis.call('HSET', job_key, 'checked_at', now)
  return 1
end
return 0
