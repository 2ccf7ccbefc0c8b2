-- Record a step of a live worker (registered, launched, running, its job, ...).
local lease_key, worker_key, starting_key = KEYS[1], KEYS[2], KEYS[3]
local holder, name, started = ARGV[1], ARGV[2], ARGV[3]
local first_field = 4

if redis.call('GET', lease_key) ~= holder then return 'fenced' end
local state = redis.call('HGET', worker_key, 'state')
if not state then return 'missing' end
if state == 'finished' then return 'finished' end

local fields = {}
for i = first_field, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', worker_key, unpack(fields)) end
-- A pod that runs no longer counts against its board's cap on pods not yet running.
if started == '1' then redis.call('SREM', starting_key, name) end
return 'ok'
