"""The only module that talks to Redis.

Every delivery is applied in one Lua script: one round trip, atomic, so a reader never sees a
job hash without its pool membership, and a crash between two writes cannot happen.
"""
import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from django_redis import get_redis_connection
from redis.commands.core import Script

from webhooks.events import WorkflowJobEvent
from webhooks.keys import Keys, pool_member, split_pool_member
from webhooks.matching import Match
from webhooks.outcomes import Delivery, Outcome, Reason, Result

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """Redis could not be reached or refused a write; nothing may be assumed recorded."""


class StaleConfig(Exception):
    """The config version in Redis moved: reload the mappings and accounts and try again."""


# KEYS: job, config version, pools, history, events, deliveries, stats
# ARGV: 1 expected config version, 2 new status, 3 now, 4 retention seconds, 5 pool key pattern,
#       6 deliveries max length, 7 events max length, 8 delivery id, 9 action, 10 job id,
#       11 why a new job is not recorded ('' when it is: matched and not blocked), 12 entity id,
#       13 pool, 14 pools member, 15 image, 16 labels (JSON),
#       17 runner name, 18 conclusion, 19 active job lifetime (seconds),
#       20 the outcome of a forward move ('updated', or 'reconciled' when GitHub's own record
#       of the job moved it), 21 the event the delivery log names ('workflow_job' or
#       'reconcile'), 22.. field/value pairs of a new job's hash
APPLY_JOB_EVENT = """
local version = redis.call('GET', KEYS[2]) or '0'
if version ~= ARGV[1] then return {'stale', version} end

local rank = {pending = 1, running = 2, completed = 3}
local new, now, job_id = ARGV[2], ARGV[3], ARGV[10]
local known = redis.call('HMGET', KEYS[1], 'status', 'entity_id', 'k8s_pool', 'k8s_image', 'labels')
local old = known[1]
local entity, pool, image, labels = ARGV[12], ARGV[13], ARGV[15], ARGV[16]
local outcome, reason = 'ignored', ARGV[11]

local function finish_fields(fields)
  if new == 'running' then
    table.insert(fields, 'started_at'); table.insert(fields, now)
  elseif new == 'completed' then
    table.insert(fields, 'completed_at'); table.insert(fields, now)
    table.insert(fields, 'conclusion'); table.insert(fields, ARGV[18])
  end
  if ARGV[17] ~= '' then
    table.insert(fields, 'runner_name'); table.insert(fields, ARGV[17])
  end
  return fields
end

if not old then
  if ARGV[11] == '' then
    local fields = {'status', new, 'created_at', now, 'started_at', '', 'completed_at', '',
                    'conclusion', '', 'runner_name', ''}
    for i = 22, #ARGV do fields[#fields + 1] = ARGV[i] end
    redis.call('HSET', KEYS[1], unpack(finish_fields(fields)))
    if new == 'completed' then
      redis.call('EXPIRE', KEYS[1], ARGV[4])
      -- A pending job whose hash expired may still be in its pool set: it is over now.
      redis.call('SREM', string.format(ARGV[5], entity, pool), job_id)
    else
      -- A job whose completed delivery is lost for good must not be demand for ever.
      redis.call('EXPIRE', KEYS[1], ARGV[19])
      redis.call('SADD', string.format(ARGV[5], entity, pool), job_id)
    end
    redis.call('SADD', KEYS[3], ARGV[14])
    redis.call('ZADD', KEYS[4], now, job_id)
    outcome, reason = 'stored', ''
  end
elseif rank[new] <= rank[old] then
  -- GitHub delivers at least once and in any order: a status never moves back.
  outcome = 'duplicate'
  reason = (new == old) and 'repeat' or 'out_of_order'
else
  entity, pool, image, labels = known[2], known[3], known[4], known[5]
  redis.call('HSET', KEYS[1], unpack(finish_fields({'status', new})))
  if new == 'completed' then
    redis.call('SREM', string.format(ARGV[5], entity, pool), job_id)
    redis.call('EXPIRE', KEYS[1], ARGV[4])
  else
    redis.call('EXPIRE', KEYS[1], ARGV[19])
  end
  outcome, reason = ARGV[20], ''
end

if outcome == 'stored' or outcome == ARGV[20] then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'job_id', job_id, 'status', new,
             'previous', old or '', 'entity_id', entity, 'k8s_pool', pool, 'k8s_image', image,
             'labels', labels)
  if new == 'completed' then
    -- History entries leave with the job hashes they point at.
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (tonumber(now) - tonumber(ARGV[4])))
  end
end

redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'delivery', ARGV[8],
           'event', ARGV[21], 'action', ARGV[9], 'job_id', job_id, 'outcome', outcome,
           'reason', reason, 'http_status', '200', 'at', now)
redis.call('HINCRBY', KEYS[7], (reason ~= '') and (outcome .. ':' .. reason) or outcome, 1)
return {outcome, reason, old or '', pool}
"""


def keys() -> Keys:
    return Keys(settings.RUNNERHUB_ENV)


_local = threading.local()


def client() -> redis.Redis:
    """This thread's client. Django keeps one cache connection per thread already; remembering
    it here saves looking it up through Django's cache handler on every delivery."""
    connection = getattr(_local, "client", None)
    if connection is None:
        connection = _local.client = get_redis_connection("default")
    return connection


@functools.cache
def _script(source: str) -> Script:
    """Registered once per process; called with each thread's own client."""
    return client().register_script(source)


def _now() -> str:
    return f"{time.time():.3f}"


def config_version() -> str:
    """The current version of the label mappings and accounts (`0` before the first change)."""
    with _unavailable_on_error():
        value = client().get(keys().config_version)
    return value.decode() if value else "0"


def bump_config_version() -> None:
    """Tell every process that its cached mappings and account flags are stale.

    A fresh random version rather than a counter: after Redis lost the key (a restart without
    persistence, a failover), a counter would count up through versions processes still hold.
    """
    with _unavailable_on_error():
        client().set(keys().config_version, uuid.uuid4().hex)


def knows_job(version: str, job_id: int | None) -> bool:
    """Whether this deployment has recorded `job_id`, in one round trip with the version check.

    Raises StaleConfig unless `version` is the config version in Redis.
    """
    k = keys()
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        pipe.get(k.config_version)
        pipe.exists(k.job(job_id or 0))
        current, exists = pipe.execute()
    current = current.decode() if current else "0"
    if current != version:
        raise StaleConfig(current)
    return job_id is not None and bool(exists)


def apply_job_event(
    event: WorkflowJobEvent,
    match: Match | None,
    version: str,
    delivery: Delivery,
    unmatched: Reason = Reason.NO_LABEL_MATCH,
    reconciled: bool = False,
) -> Result:
    """Record one `workflow_job` delivery: the transition, the events stream, the log, the counters.

    `reconciled`: the news is GitHub's own record of a known job, read by the scheduler when
    its deliveries were lost; a forward move is then `reconciled` rather than `updated`, and the
    delivery log names the event `reconcile`.

    Reads and writes, atomically: the job hash, its pool set, the pools set, the history index,
    the events stream, the delivery log and the counters. A job RunnerHub has not seen is created
    at the event's status if `match` is given, and ignored for the reason `unmatched` otherwise
    (no label match, or a blocked account); a known job only moves forward, whatever its labels
    match now. Raises StaleConfig when `version` is not the config version in Redis (nothing is
    written then) and StoreUnavailable when Redis fails or, with REDIS_MIN_REPLICAS_ACK, fewer
    replicas than that acknowledged the write in time.
    """
    k = keys()
    labels = json.dumps(list(event.labels))
    new_job_fields: list[str | int] = []
    if match is not None:
        new_job_fields = [
            "job_id", event.job_id,
            "entity_id", event.entity_id,
            "entity_type", event.entity_type,
            "entity_name", event.owner_login,
            "owner_id", event.owner_id,
            "labels", labels,
            "k8s_pool", match.pool,
            "k8s_image", match.image,
            "mapping_id", match.mapping_id,
            "repo", event.repo_full_name,
            "private", int(event.private),
            "installation_id", event.installation_id or "",
            "html_url", event.html_url,
            "job_name", event.job_name,
            "workflow_name", event.workflow_name,
            "run_id", event.run_id,
            "run_attempt", event.run_attempt,
        ]  # fmt: skip
    pool = match.pool if match else ""
    with _unavailable_on_error():
        reply = _replicated(
            _script(APPLY_JOB_EVENT),
            keys=[k.job(event.job_id), k.config_version, k.pools, k.history, k.events,
                  k.deliveries, k.stats],
            args=[
                version, event.status, _now(), settings.HISTORY_RETENTION_DAYS * 86400,
                k.pool_jobs_pattern, settings.DELIVERY_LOG_LENGTH, settings.EVENTS_STREAM_LENGTH,
                delivery.delivery_id, event.action, event.job_id, "" if match else unmatched,
                event.entity_id, pool, pool_member(event.entity_id, pool),
                match.image if match else "", labels,
                event.runner_name, event.conclusion, settings.ACTIVE_JOB_DAYS * 86400,
                Outcome.RECONCILED if reconciled else Outcome.UPDATED,
                "reconcile" if reconciled else "workflow_job",
                *new_job_fields,
            ],
        )  # fmt: skip
    words = [part.decode() for part in reply]
    if words[0] == "stale":
        raise StaleConfig(words[1])
    outcome, reason, previous, pool = words
    status = previous if outcome in (Outcome.DUPLICATE, Outcome.IGNORED) else event.status
    return Result(Outcome(outcome), Reason(reason), status, previous, pool, event.job_id)


def _replicated(script: Script, keys: list[str], args: list[str | int]) -> list[bytes]:
    """Run `script` and, with REDIS_MIN_REPLICAS_ACK, wait for that many replicas to hold what
    it wrote: a failover promotes a replica, and what only the old primary held is gone.

    The WAIT goes in one pipeline with the script, so it waits for this connection's write and
    costs the replicas' acknowledgement but no extra round trip from here. Raises
    StoreUnavailable when too few replicas acknowledged within REDIS_REPLICA_ACK_TIMEOUT_MS:
    the write may be on the primary only, so it must not be acknowledged (a redelivery of it is
    a duplicate, answered 200).
    """
    wanted = settings.REDIS_MIN_REPLICAS_ACK
    if not wanted:
        return script(keys=keys, args=args, client=client())
    connection = client()
    for attempt in range(2):
        pipe = connection.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.wait(wanted, settings.REDIS_REPLICA_ACK_TIMEOUT_MS)
        reply, acknowledged = pipe.execute(raise_on_error=False)
        # A promoted replica has not seen the script: the script cache is not replicated.
        if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 0:
            connection.script_load(script.script)
            continue
        break
    for answer in (reply, acknowledged):
        if isinstance(answer, Exception):
            raise answer
    if reply[0] != b"stale" and acknowledged < wanted:
        log.error("redis.unreplicated replicas=%s wanted=%s", acknowledged, wanted)
        raise StoreUnavailable("too few replicas acknowledged the write")
    return reply


# KEYS: 1 a pool's jobs set, 2 its workers set, 3 the pools set.
# ARGV: 1 job key pattern, 2 the pool's member of the pools set.
PRUNE_POOL = """
local removed = 0
for _, job_id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local status = redis.call('HGET', string.format(ARGV[1], job_id), 'status')
  if not status or status == 'completed' then
    redis.call('SREM', KEYS[1], job_id)
    removed = removed + 1
  end
end
-- An idle pool leaves the pools set; a pool with workers is not idle, whatever its demand.
-- A delivery that brings a new job adds the pool back in its own script.
local dropped = 0
if redis.call('SCARD', KEYS[1]) == 0 and redis.call('SCARD', KEYS[2]) == 0 then
  dropped = redis.call('SREM', KEYS[3], ARGV[2])
end
return {removed, dropped}
"""

# KEYS: 1 the history index. ARGV: 1 job key pattern, 2 first rank, 3 how many.
PRUNE_HISTORY = """
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], tonumber(ARGV[2]) + tonumber(ARGV[3]) - 1)
local removed = 0
for _, job_id in ipairs(ids) do
  if redis.call('EXISTS', string.format(ARGV[1], job_id)) == 0 then
    redis.call('ZREM', KEYS[1], job_id)
    removed = removed + 1
  end
end
return {#ids, removed}
"""
PRUNE_HISTORY_CHUNK = 1000


@dataclass(frozen=True)
class Pruned:
    jobs: dict[str, int]  # stale job ids removed, per `{entity_id}:{pool}`
    pools: list[str]  # idle pools dropped from the pools set
    history: int  # history entries whose job hash was gone


def prune_demand() -> Pruned:
    """Drop what only grows: stale jobs, idle pools and orphan history entries.

    From every pool set, the jobs whose hash expired (ACTIVE_JOB_DAYS without news) or is
    completed; from the pools set, every pool left with neither jobs nor workers (the
    scheduler's `…:workers` set); from the history index, the entries whose job hash is gone.
    Each pool, and each chunk of the history, is pruned atomically, so a job recorded again
    meanwhile is kept. Reads the whole history in chunks: run it daily, not per request.
    """
    k = keys()
    removed, dropped, history = {}, [], 0
    with _unavailable_on_error():
        connection = client()
        for member in sorted(m.decode() for m in connection.smembers(k.pools)):
            entity_id, pool = split_pool_member(member)
            count, gone = _script(PRUNE_POOL)(
                keys=[k.pool_jobs(entity_id, pool), k.pool_workers(entity_id, pool), k.pools],
                args=[k.job_pattern, member],
                client=connection,
            )
            if count:
                removed[member] = int(count)
            if gone:
                dropped.append(member)
        rank = 0
        while True:
            read, gone = _script(PRUNE_HISTORY)(
                keys=[k.history], args=[k.job_pattern, rank, PRUNE_HISTORY_CHUNK],
                client=connection,
            )  # fmt: skip
            history += int(gone)
            rank += int(read) - int(gone)
            if int(read) < PRUNE_HISTORY_CHUNK:
                break
    return Pruned(removed, dropped, history)


def record_delivery(delivery: Delivery, result: Result, http_status: int) -> None:
    """Log a delivery that recorded no job (ignored, rejected once verified, forwarded) and
    count it."""
    k = keys()
    entry = {
        "delivery": delivery.delivery_id,
        "event": delivery.event,
        "action": delivery.action,
        "job_id": "" if delivery.job_id is None else delivery.job_id,
        "outcome": result.outcome,
        "reason": result.reason,
        "http_status": http_status,
        "at": _now(),
    }
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=True)
        pipe.xadd(k.deliveries, entry, maxlen=settings.DELIVERY_LOG_LENGTH, approximate=True)
        pipe.hincrby(k.stats, result.counter, 1)
        pipe.execute()


def count_delivery(result: Result) -> None:
    """Count a delivery without logging it: one refused before its signature was verified."""
    with _unavailable_on_error():
        client().hincrby(keys().stats, result.counter, 1)


def ping() -> None:
    with _unavailable_on_error():
        client().ping()


@contextlib.contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Turn any Redis failure into StoreUnavailable, logged once here."""
    try:
        yield
    except redis.RedisError as exc:
        log.error("redis.error kind=%s", type(exc).__name__)
        raise StoreUnavailable(type(exc).__name__) from exc


# ---------------------------------------------------------------------------------------------
# Reads for the report pages
#
# `reports` reads RunnerHub's state through these functions only. Each is one round trip (a
# pipeline where it reads several keys), and what it reads is bounded by what a page shows:
# never KEYS or SCAN, never the whole history.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolRead:
    """One member of the pools set with its demand (job ids) and supply (worker names)."""

    entity_id: str
    pool: str
    job_ids: tuple[str, ...]
    workers: tuple[str, ...]


def read_pools() -> list[PoolRead]:
    """Every pool ever seen, with the ids of its pending and running jobs and its workers.

    Reads the pools set, then each pool's jobs and workers sets in one pipeline: two round trips
    whatever the number of pools, and as many ids as there are active jobs and workers.
    """
    k = keys()
    with _unavailable_on_error():
        members = sorted(_text(member) for member in client().smembers(k.pools))
        if not members:
            return []
        pipe = client().pipeline(transaction=False)
        for member in members:
            entity_id, pool = split_pool_member(member)
            pipe.smembers(k.pool_jobs(entity_id, pool))
            pipe.smembers(k.pool_workers(entity_id, pool))
        replies = pipe.execute()
    pools = []
    for index, member in enumerate(members):
        entity_id, pool = split_pool_member(member)
        job_ids, workers = replies[2 * index], replies[2 * index + 1]
        pools.append(
            PoolRead(
                entity_id,
                pool,
                tuple(sorted((_text(job_id) for job_id in job_ids), key=_numeric)),
                tuple(sorted(_text(worker) for worker in workers)),
            )
        )
    return pools


def read_jobs(job_ids: Sequence[str], fields: Sequence[str] = ()) -> list[dict[str, str] | None]:
    """The hashes of `job_ids`, in order, in one pipeline; None for a job whose hash is gone.

    With `fields`, only those fields are read (a missing field reads as ''). Completed jobs
    expire while their history entry may linger a moment, so callers skip the Nones.
    """
    if not job_ids:
        return []
    k = keys()
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for job_id in job_ids:
            if fields:
                pipe.hmget(k.job(job_id), fields)
            else:
                pipe.hgetall(k.job(job_id))
        replies = pipe.execute()
    # Decoded inline: /usage reads every field of every active job, thousands of values.
    if fields:
        # HMGET of a missing key answers all nils; every job hash has a status.
        return [
            {field: (value or b"").decode() for field, value in zip(fields, reply)}
            if reply[0] is not None
            else None
            for reply in replies
        ]
    return [
        {field.decode(): value.decode() for field, value in reply.items()} if reply else None
        for reply in replies
    ]


def read_history_ids(start: float, end: float, offset: int, count: int) -> list[str]:
    """Job ids created in [start, end), newest first, skipping `offset`: one page of the index.

    One ZRANGE ... BYSCORE REV LIMIT: O(log N + offset + count) in the history's size N.
    """
    if count <= 0:
        return []
    with _unavailable_on_error():
        ids = client().zrange(
            keys().history, f"({end}", start, desc=True, byscore=True, offset=offset, num=count
        )
    return [_text(job_id) for job_id in ids]


def read_history_slices(
    slices: Sequence[tuple[float, float, int, int]],
) -> list[list[str]]:
    """Several `read_history_ids(start, end, offset, count)` in one pipeline."""
    if not slices:
        return []
    k = keys()
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for start, end, offset, count in slices:
            pipe.zrange(
                k.history, f"({end}", start, desc=True, byscore=True, offset=offset, num=count
            )
        replies = pipe.execute()
    return [[_text(job_id) for job_id in reply] for reply in replies]


def count_history(ranges: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """For each [start, end): how many jobs were created in it, and how many after it (the
    history rank of its newest job). Two ZCOUNTs each, O(log N), in one pipeline."""
    if not ranges:
        return []
    k = keys()
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for start, end in ranges:
            pipe.zcount(k.history, start, f"({end}")
            pipe.zcount(k.history, end, "+inf")
        counts = [int(count) for count in pipe.execute()]
    return list(zip(counts[0::2], counts[1::2]))


def read_history_ranks(spans: Sequence[tuple[int, int]]) -> list[list[str]]:
    """For each (first, count): `count` job ids from rank `first` of the history, newest first.

    By rank, O(log N + count) each however deep: for sampling a long period. Ranks move when
    jobs arrive, so a span read after the ranks were counted may be shifted by a few jobs.
    """
    if not spans:
        return []
    k = keys()
    with _unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for first, count in spans:
            pipe.zrange(k.history, first, first + count - 1, desc=True)
        replies = pipe.execute()
    return [[_text(job_id) for job_id in reply] for reply in replies]


def read_deliveries(count: int) -> list[dict[str, str]]:
    """The `count` most recent entries of the delivery log, newest first, each with its stream
    id as `id`."""
    with _unavailable_on_error():
        entries = client().xrevrange(keys().deliveries, count=count)
    return [
        {"id": _text(entry_id), **{_text(f): _text(v) for f, v in fields.items()}}
        for entry_id, fields in entries
    ]


def read_delivery_counters() -> dict[str, int]:
    """The delivery counters: `outcome` or `outcome:reason` to a count."""
    with _unavailable_on_error():
        counters = client().hgetall(keys().stats)
    return {_text(name): int(value) for name, value in counters.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _numeric(job_id: str) -> tuple[int, str]:
    return (int(job_id), "") if job_id.isdigit() else (0, job_id)
