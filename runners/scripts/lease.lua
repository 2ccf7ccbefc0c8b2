-- Take or renew the scheduler's lease. Each new leader gets the next fencing token, and the
-- lease holds it: every state-changing script compares the lease with its caller's, so a
-- leader that was paused past its lease cannot act any more.
local lease_key, fence_key = KEYS[1], KEYS[2]
local replica, lease_ms, mine = ARGV[1], ARGV[2], ARGV[3]

local holder = redis.call('GET', lease_key)
if holder and holder == mine then
  redis.call('PEXPIRE', lease_key, lease_ms)
  return {'renewed', holder}
end
if holder then
  return {'held', holder}
end
local token = redis.call('INCR', fence_key)
local value = replica .. ' ' .. token
redis.call('SET', lease_key, value, 'PX', lease_ms)
return {'acquired', value}
