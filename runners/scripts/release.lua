-- Give the lease up, if it is still ours, so a standby need not wait for it to expire.
local lease_key = KEYS[1]
local mine = ARGV[1]

if redis.call('GET', lease_key) == mine then
  redis.call('DEL', lease_key)
  return 1
end
return 0
