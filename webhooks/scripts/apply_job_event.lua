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
local PENDING, RUNNING, COMPLETED = ARGV[6], ARGV[7], ARGV[8] -- the statuses, in their order
local rank = {[PENDING] = 1, [RUNNING] = 2, [COMPLETED] = 3}
local STORED, DUPLICATE, IGNORED = ARGV[9], ARGV[10], ARGV[11]
local REPEAT, OUT_OF_ORDER = ARGV[12], ARGV[13]
local stored_counter, repeat_counter, out_of_order_counter = ARGV[14], ARGV[15], ARGV[16]
-- The delivery log's field names (outcomes.DELIVERY_LOG_FIELDS), in their order.
local F_DELIVERY, F_EVENT, F_ACTION, F_JOB_ID = ARGV[17], ARGV[18], ARGV[19], ARGV[20]
local F_OUTCOME, F_REASON, F_HTTP_STATUS, F_AT = ARGV[21], ARGV[22], ARGV[23], ARGV[24]
-- Per delivery.
local expected_version = ARGV[25]
local new = ARGV[26]                     -- the status the delivery reports
local now = ARGV[27]
local delivery_id = ARGV[28]
local action = ARGV[29]
local job_id = ARGV[30]
local unrecorded = ARGV[31]              -- why a new job is not recorded; '' when it is
local unrecorded_counter = ARGV[32]
local entity, pool = ARGV[33], ARGV[34]
local pools_member = ARGV[35]
local image, labels = ARGV[36], ARGV[37]
local runner_name, conclusion = ARGV[38], ARGV[39]
local MOVED, moved_counter = ARGV[40], ARGV[41] -- 'updated', or 'reconciled' on GitHub's record
local log_event = ARGV[42]               -- the event the delivery log names
local NEW_JOB_FIELDS = 43                -- ARGV[43..]: a new job's whole hash, field/value pairs;
                                         -- left out when the job is expected to be known

local version = redis.call('GET', config_version_key) or '0'
if version ~= expected_version then return {'stale', version} end

local known = redis.call('HMGET', job_key, 'status', 'entity_id', 'k8s_pool', 'k8s_image', 'labels')
local old = known[1]
local outcome, reason, counter = IGNORED, unrecorded, unrecorded_counter

-- A known job's fields that a move to `new` sets.
local function moved_fields()
  local fields = {'status', new}
  if new == RUNNING then
    fields[3], fields[4] = 'started_at', now
  elseif new == COMPLETED then
    fields[3], fields[4], fields[5], fields[6] = 'completed_at', now, 'conclusion', conclusion
  end
  if runner_name ~= '' then
    fields[#fields + 1] = 'runner_name'; fields[#fields + 1] = runner_name
  end
  return fields
end

if not old then
  -- Only news of a job that is later than its queued delivery comes without the new job's
  -- fields; when it is the first news after all, the caller sends them and asks again.
  if unrecorded == '' and #ARGV < NEW_JOB_FIELDS then return {'unknown'} end
  if unrecorded == '' then
    redis.call('HSET', job_key, unpack(ARGV, NEW_JOB_FIELDS, #ARGV))
    if new == COMPLETED then
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
  redis.call('HSET', job_key, unpack(moved_fields()))
  if new == COMPLETED then
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
  if new == COMPLETED then
    -- History entries leave with the job hashes they point at.
    redis.call('ZREMRANGEBYSCORE', history_key, '-inf',
               '(' .. (tonumber(now) - tonumber(retention_seconds)))
  end
end

redis.call('XADD', deliveries_key, 'MAXLEN', '~', deliveries_max, '*',
           F_DELIVERY, delivery_id, F_EVENT, log_event, F_ACTION, action, F_JOB_ID, job_id,
           F_OUTCOME, outcome, F_REASON, reason, F_HTTP_STATUS, '200', F_AT, now)
redis.call('HINCRBY', stats_key, counter, 1)
return {outcome, reason, old or '', pool}
