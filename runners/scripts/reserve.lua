-- Reserve a new worker for a label set of a pool, before anything is asked of GitHub or
-- Kubernetes: a leader that dies after this leaves a record its successor can roll back.
-- The caps and the shortfall are checked again here, against the state of this instant.
local lease_key, worker_key, workers_key = KEYS[1], KEYS[2], KEYS[3]
local pool_workers_key, account_workers_key, starting_key, pool_jobs_key = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local holder, name, label_key, image = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local account_cap, board_cap = tonumber(ARGV[5]), tonumber(ARGV[6])
local job_pattern, worker_pattern = ARGV[7], ARGV[8]
local supply_states = cjson.decode(ARGV[9])
local first_field = 10

if redis.call('GET', lease_key) ~= holder then return 'fenced' end
if redis.call('EXISTS', worker_key) == 1 then return 'exists' end
-- A cap of -1 is none; 0 is a blocked account's.
if account_cap >= 0 and redis.call('SCARD', account_workers_key) >= account_cap then
  return 'account_cap'
end
if redis.call('SCARD', starting_key) >= board_cap then return 'board_cap' end

-- The wanted label set (the scheduler's canonical key: ASCII lower case, sorted, no repeats).
-- A job's labels are compared with it as a set, never sorted here: Lua sorts strings by the
-- server's locale, Python by code point.
local wanted, wanted_count = {}, 0
for label in string.gmatch(label_key, '[^\n]+') do
  wanted[label] = true
  wanted_count = wanted_count + 1
end

local function same_labels(labels_json)
  local ok, labels = pcall(cjson.decode, labels_json or '[]')
  if not ok or type(labels) ~= 'table' then return false end
  local seen, count = {}, 0
  for _, label in ipairs(labels) do
    local lower = string.lower(tostring(label))
    if not wanted[lower] then return false end
    if not seen[lower] then
      seen[lower] = true
      count = count + 1
    end
  end
  return count == wanted_count
end

local pending = 0
for _, job_id in ipairs(redis.call('SMEMBERS', pool_jobs_key)) do
  local job = redis.call('HMGET', string.format(job_pattern, job_id), 'status', 'labels', 'k8s_image')
  if job[1] == 'pending' and job[3] == image and same_labels(job[2]) then
    pending = pending + 1
  end
end
local supply = 0
for _, other in ipairs(redis.call('SMEMBERS', pool_workers_key)) do
  local worker = redis.call('HMGET', string.format(worker_pattern, other),
                            'state', 'label_key', 'k8s_image', 'job_id')
  if supply_states[worker[1]] and worker[2] == label_key and worker[3] == image
      and (worker[4] or '') == '' then
    supply = supply + 1
  end
end
if supply >= pending then return 'no_shortfall' end

local fields = {}
for i = first_field, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', worker_key, unpack(fields))
redis.call('SADD', workers_key, name)
redis.call('SADD', pool_workers_key, name)
redis.call('SADD', account_workers_key, name)
redis.call('SADD', starting_key, name)
return 'reserved'
