-- A worker is done: its pod and registration are gone or were never made. It leaves every
-- live set at once, and its record stays for the history retention, then expires.
local lease_key, worker_key, workers_key = KEYS[1], KEYS[2], KEYS[3]
local pool_workers_key, account_workers_key, starting_key = KEYS[4], KEYS[5], KEYS[6]
local holder, name, retention = ARGV[1], ARGV[2], ARGV[3]
local first_field = 4

if redis.call('GET', lease_key) ~= holder then return 'fenced' end
if redis.call('EXISTS', worker_key) == 0 then return 'missing' end

local fields = {'state', 'finished'}
for i = first_field, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', worker_key, unpack(fields))
redis.call('EXPIRE', worker_key, retention)
redis.call('SREM', workers_key, name)
redis.call('SREM', pool_workers_key, name)
redis.call('SREM', account_workers_key, name)
redis.call('SREM', starting_key, name)
return 'ok'
