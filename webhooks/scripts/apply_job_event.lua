-- One workflow_job delivery (or reconciliation), applied atomically: the job's transition, its
-- pool and history entries, the events stream, the delivery log and the counters.
-- Called by webhooks/store.py (apply_job_event), which defines every word and name used here.

-- Per process: the same for every delivery, packed once by store.py.
local config_version_key = KEYS[1]
local pools_key = KEYS[2]
local history_key = KEYS[3]
local events_key = KEYS[4]
local deliveries_key = KEYS[5]
local stats_key = KEYS[6]
-- Per delivery.
local job_key = KEYS[7]

-- Per process.
local retention_seconds = ARGV[1]        -- how long a completed job is kept
local active_job_seconds = ARGV[2]       -- how long a job without news is demand
local pool_jobs_pattern = ARGV[3]        -- string.format pattern of a pool's jobs set
local deliveries_max = ARGV[4]           -- the delivery log's length
local events_max = ARGV[5]               -- the events stream's length
local statuses = ARGV[6]                 -- the statuses in their order, space-separated
local STORED, DUPLICATE, IGNORED = ARGV[7], ARGV[8], ARGV[9]
local REPEAT, OUT_OF_ORDER = ARGV[10], ARGV[11]
local stored_counter, repeat_counter, out_of_order_counter = ARGV[12], ARGV[13], ARGV[14]
local log_fields = ARGV[15]              -- the delivery log's field names, space-separated
-- Per delivery.
local expected_version = ARGV[16]
local new = ARGV[17]                     -- the status the delivery reports
local now = ARGV[18]
local delivery_id = ARGV[19]
local action = ARGV[20]
local job_id = ARGV[21]
local unrecorded = ARGV[22]              -- why a new job is not recorded; '' when it is
local unrecorded_counter = ARGV[23]
local entity, pool = ARGV[24], ARGV[25]
local pools_member = ARGV[26]
local image, labels = ARGV[27], ARGV[28]
local runner_name, conclusion = ARGV[29], ARGV[30]
local MOVED, moved_counter = ARGV[31], ARGV[32] -- 'updated', or 'reconciled' on GitHub's record
local log_event = ARGV[33]               -- the event the delivery log names
local NEW_JOB_FIELDS = 34                -- ARGV[34..]: field/value pairs of a new job's hash

local version = redis.call('GET', config_version_key) or '0'
if version ~= expected_version then return {'stale', version} end

local rank, position = {}, 0
for status in string.gmatch(statuses, '%S+') do
  position = position + 1
  rank[status] = position
end

local known = redis.call('HMGET', job_key, 'status', 'entity_id', 'k8s_pool', 'k8s_image', 'labels')
local old = known[1]
local outcome, reason, counter = IGNORED, unrecorded, unrecorded_counter

local function finish_fields(fields)
  if new == 'running' then
    table.insert(fields, 'started_at'); table.insert(fields, now)
  elseif new == 'completed' then
    table.insert(fields, 'completed_at'); table.insert(fields, now)
    table.insert(fields, 'conclusion'); table.insert(fields, conclusion)
  end
  if runner_name ~= '' then
    table.insert(fields, 'runner_name'); table.insert(fields, runner_name)
  end
  return fields
end

if not old then
  if unrecorded == '' then
    local fields = {'status', new, 'created_at', now, 'started_at', '', 'completed_at', '',
                    'conclusion', '', 'runner_name', ''}
    for i = NEW_JOB_FIELDS, #ARGV do fields[#fields + 1] = ARGV[i] end
    redis.call('HSET', job_key, unpack(finish_fields(fields)))
    if new == 'completed' then
      redis.call('EXPIRE', job_key, retention_seconds)
      -- A pending job whose hash expired may still be in its pool set: it is over now.
      redis.call('SREM', string.format(pool_jobs_pattern, entity, pool), job_id)
    else
      -- A job whose completed delivery is lost for good must not be demand for ever.
      redis.call('EXPIRE', job_key, active_job_seconds)
      redis.call('SADD', string.format(pool_jobs_pattern, entity, pool), job_id)
    end
    redis.call('SADD', pools_key, pools_member)
    redis.call('ZADD', history_key, now, job_id)
    outcome, reason, counter = STORED, '', stored_counter
  end
elseif rank[new] <= rank[old] then
  -- GitHub delivers at least once and in any order: a status never moves back.
  outcome = DUPLICATE
  if new == old then
    reason, counter = REPEAT, repeat_counter
  else
    reason, counter = OUT_OF_ORDER, out_of_order_counter
  end
else
  entity, pool, image, labels = known[2], known[3], known[4], known[5]
  redis.call('HSET', job_key, unpack(finish_fields({'status', new})))
  if new == 'completed' then
    redis.call('SREM', string.format(pool_jobs_pattern, entity, pool), job_id)
    redis.call('EXPIRE', job_key, retention_seconds)
  else
    redis.call('EXPIRE', job_key, active_job_seconds)
  end
  outcome, reason, counter = MOVED, '', moved_counter
end

if outcome == STORED or outcome == MOVED then
  redis.call('XADD', events_key, 'MAXLEN', '~', events_max, '*', 'job_id', job_id,
             'status', new, 'previous', old or '', 'entity_id', entity, 'k8s_pool', pool,
             'k8s_image', image, 'labels', labels)
  if new == 'completed' then
    -- History entries leave with the job hashes they point at.
    redis.call('ZREMRANGEBYSCORE', history_key, '-inf',
               '(' .. (tonumber(now) - tonumber(retention_seconds)))
  end
end

-- The values in the order of log_fields (outcomes.DELIVERY_LOG_FIELDS).
local values = {delivery_id, log_event, action, job_id, outcome, reason, '200', now}
local entry, index = {}, 0
for field in string.gmatch(log_fields, '%S+') do
  index = index + 1
  entry[#entry + 1] = field
  entry[#entry + 1] = values[index]
end
redis.call('XADD', deliveries_key, 'MAXLEN', '~', deliveries_max, '*', unpack(entry))
redis.call('HINCRBY', stats_key, counter, 1)
return {outcome, reason, old or '', pool}
