"""RunnerHub's writes to Redis, and the client every module talks to Redis through (the report
pages' reads are in webhooks/reads.py, the scheduler's in runners/store.py).

Every delivery is applied in one Lua script: one round trip, atomic, so a reader never sees a
job hash without its pool membership, and a crash between two writes cannot happen.
"""
import contextlib
import functools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import hiredis
import redis
from django_redis import get_redis_connection
from redis.commands.core import Script

from webhooks import delivery_settings
from webhooks.events import Status, WorkflowJobEvent
from webhooks.keys import Keys, pool_member, split_pool_member
from webhooks.matching import Match
from webhooks.outcomes import DELIVERY_LOG_FIELDS, Delivery, Outcome, Reason, Result, counter_name

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """Redis could not be reached or refused a write; nothing may be assumed recorded."""


class StaleConfig(Exception):
    """The config version in Redis moved: reload the mappings and accounts and try again."""


SCRIPTS = Path(__file__).resolve().parent / "scripts"


APPLY_JOB_EVENT = SCRIPTS / "apply_job_event.lua"  # called by its SHA-1, see _Command


def keys() -> Keys:
    return delivery_settings.current().keys


_local = threading.local()


def client() -> redis.Redis:
    """This thread's client. Django keeps one cache connection per thread already; remembering
    it here saves looking it up through Django's cache handler on every delivery."""
    connection = getattr(_local, "client", None)
    if connection is None:
        connection = _local.client = get_redis_connection("default")
    return connection


@functools.cache
def registered(path: Path) -> Script:
    """A Lua script file, read and registered once per process; call it with `client=`, each
    thread's own client."""
    return client().register_script(path.read_text())


def now() -> str:
    """The time as RunnerHub's records hold it: Unix seconds to the millisecond."""
    return f"{time.time():.3f}"


def config_version() -> str:
    """The current version of the label mappings and accounts (`0` before the first change)."""
    with unavailable_on_error():
        value = client().get(keys().config_version)
    return value.decode() if value else "0"


def bump_config_version() -> None:
    """Tell every process that its cached mappings and account flags are stale.

    A fresh random version rather than a counter: after Redis lost the key (a restart without
    persistence, a failover), a counter would count up through versions processes still hold.
    """
    with unavailable_on_error():
        client().set(keys().config_version, uuid.uuid4().hex)


def knows_job(version: str, job_id: int | None) -> bool:
    """Whether this deployment has recorded `job_id`, in one round trip with the version check.

    Raises StaleConfig unless `version` is the config version in Redis.
    """
    k = keys()
    with unavailable_on_error():
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
    labels = _labels_json(event.labels)
    at = now()
    pool = match.pool if match else ""
    moved = Outcome.RECONCILED if reconciled else Outcome.UPDATED
    unrecorded = Reason.NONE if match else unmatched
    per_delivery = [
        version, event.status, at, delivery.delivery_id, event.action, event.job_id,
        unrecorded, counter_name(Outcome.IGNORED, unrecorded), event.entity_id, pool,
        pool_member(event.entity_id, pool), match.image if match else "", labels,
        event.runner_name, event.conclusion, moved, counter_name(moved),
        "reconcile" if reconciled else "workflow_job",
    ]  # fmt: skip
    # A job's first news is nearly always its queued delivery: the later ones leave out the
    # new job's fields (half the script's arguments) and send them only when asked.
    if match is not None and event.status == Status.PENDING:
        per_delivery += _new_job_fields(event, match, labels, at)
    job_key = keys().job(event.job_id)
    command = _job_event_command()
    with unavailable_on_error():
        reply = _replicated(command, job_key, per_delivery)
        if reply == [b"unknown"]:
            per_delivery += _new_job_fields(event, match, labels, at)
            reply = _replicated(command, job_key, per_delivery)
    words = [part.decode() for part in reply]
    if words[0] == "stale":
        raise StaleConfig(words[1])
    outcome, reason, previous, pool = words
    status = previous if outcome in (Outcome.DUPLICATE, Outcome.IGNORED) else event.status
    return Result(Outcome(outcome), Reason(reason), status, previous, pool, event.job_id)


@functools.lru_cache(maxsize=1024)
def _labels_json(labels: tuple[str, ...]) -> str:
    """A job's labels as its hash and the events stream hold them; jobs share few label sets."""
    return json.dumps(list(labels))


def _new_job_fields(event: WorkflowJobEvent, match: Match, labels: str, at: str) -> list[str | int]:
    """A new job's whole hash as field/value pairs."""
    completed = event.status == Status.COMPLETED
    return [
        "status", event.status,
        "created_at", at,
        "started_at", at if event.status == Status.RUNNING else "",
        "completed_at", at if completed else "",
        "conclusion", event.conclusion if completed else "",
        "runner_name", event.runner_name,
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


@dataclass(frozen=True)
class _Command:
    """The delivery script's call with what never changes in a process (the keys but the
    job's, the lengths and lifetimes, the words and counter names the script writes) packed
    once into the bytes of the Redis protocol; each delivery packs only its own arguments."""

    keys: tuple[str, ...]
    constants: tuple[str | int, ...]
    prefix: bytes  # EVALSHA, the SHA-1, the number of keys, the keys before the job's
    middle: bytes  # the per-process arguments, after the job's key

    def packed(self, job_key: str, per_delivery: Sequence[str | int]) -> bytes:
        count = 2 + len(self.keys) + 1 + 1 + len(self.constants) + len(per_delivery)
        return b"".join((
            b"*%d\r\n" % count, self.prefix, _pack_args((job_key,)), self.middle,
            _pack_args(per_delivery),
        ))  # fmt: skip

    def args(self, job_key: str, per_delivery: Sequence[str | int]) -> list[str | int]:
        return [*self.keys, job_key, *self.constants, *per_delivery]


def _pack_args(args: Sequence[str | int]) -> bytes:
    """The arguments in the Redis protocol, without the command's header."""
    packed = hiredis.pack_command(tuple(args))
    return packed[packed.index(b"\r\n") + 2 :]


_command: tuple[delivery_settings.DeliverySettings, _Command] | None = None


def _job_event_command() -> _Command:
    """This process's packed call, made again only when the settings changed (tests)."""
    global _command
    current = delivery_settings.current()
    made = _command
    if made is not None and made[0] is current:
        return made[1]
    k = current.keys
    script_keys = (k.config_version, k.pools, k.history, k.events, k.deliveries, k.stats)
    constants = (
        current.history_retention_days * 86400, current.active_job_days * 86400,
        k.pattern(k.pool_jobs), current.delivery_log_length, current.events_stream_length,
        *Status, Outcome.STORED, Outcome.DUPLICATE, Outcome.IGNORED,
        Reason.REPEAT, Reason.OUT_OF_ORDER, counter_name(Outcome.STORED),
        counter_name(Outcome.DUPLICATE, Reason.REPEAT),
        counter_name(Outcome.DUPLICATE, Reason.OUT_OF_ORDER), *DELIVERY_LOG_FIELDS,
    )  # fmt: skip
    sha = registered(APPLY_JOB_EVENT).sha
    prefix = hiredis.pack_command(("EVALSHA", sha, len(script_keys) + 1, *script_keys))
    command = _Command(
        script_keys, constants, prefix[prefix.index(b"\r\n") + 2 :], _pack_args(constants)
    )
    _command = (current, command)
    return command


def _replicated(command: _Command, job_key: str, per_delivery: list[str | int]) -> list[bytes]:
    """Run the delivery script and, with REDIS_MIN_REPLICAS_ACK, wait for that many replicas
    to hold what it wrote: a failover promotes a replica, and what only the old primary held
    is gone.

    The WAIT goes in one pipeline with the script, so it waits for this connection's write and
    costs the replicas' acknowledgement but no extra round trip from here. Raises
    StoreUnavailable when too few replicas acknowledged within REDIS_REPLICA_ACK_TIMEOUT_MS:
    the write may be on the primary only, so it must not be acknowledged (a redelivery of it is
    a duplicate, answered 200).
    """
    current = delivery_settings.current()
    wanted = current.min_replicas_ack
    connection = client()
    if not wanted:
        return _evalsha(connection, command.packed(job_key, per_delivery))
    args = command.args(job_key, per_delivery)
    for attempt in range(2):
        pipe = connection.pipeline(transaction=False)
        pipe.evalsha(registered(APPLY_JOB_EVENT).sha, len(command.keys) + 1, *args)
        pipe.wait(wanted, current.replica_ack_timeout_ms)
        reply, acknowledged = pipe.execute(raise_on_error=False)
        # A promoted replica has not seen the script: the script cache is not replicated.
        if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 0:
            connection.script_load(registered(APPLY_JOB_EVENT).script)
            continue
        break
    for answer in (reply, acknowledged):
        if isinstance(answer, Exception):
            raise answer
    if reply[0] not in (b"stale", b"unknown") and acknowledged < wanted:  # those wrote nothing
        log.error("redis.unreplicated replicas=%s wanted=%s", acknowledged, wanted)
        raise StoreUnavailable("too few replicas acknowledged the write")
    return reply


def _evalsha(connection: redis.Redis, packed: bytes) -> list[bytes]:
    """Send a packed EVALSHA on this thread's delivery connection and read its answer, loading
    the script first when Redis does not know it (a restart, a failover).

    What redis-py's command machinery would do, with its retries on a broken connection, but
    without re-encoding the arguments that never change: a delivery's main cost in Python.
    """
    conn = _delivery_connection(connection)
    try:
        for attempt in range(2):
            try:
                return conn.retry.call_with_retry(
                    lambda: _send(conn, packed), lambda error: conn.disconnect()
                )
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                conn.send_command("SCRIPT", "LOAD", registered(APPLY_JOB_EVENT).script)
                conn.read_response()
        raise AssertionError("unreachable")
    except BaseException:
        # An answer may still be on its way: the connection is dropped, and the next
        # delivery connects again (to the primary Sentinel names now, with Sentinel).
        conn.disconnect()
        raise


def _delivery_connection(connection: redis.Redis) -> redis.connection.AbstractConnection:
    """This thread's own connection for deliveries, taken from the client's pool once.

    Taking a connection from redis-py's pool and giving it back costs locks and the pool's
    bookkeeping on every delivery, several times what checking the connection costs; a
    connection kept by its thread pays them once. It is never shared, and it is disconnected
    after any error, so it never holds half an answer. Like the pool, it is checked before use:
    one the server closed (a restart, an idle timeout) connects again instead of failing the
    delivery. A forked process takes its own.
    """
    pool = connection.connection_pool
    pid = os.getpid()
    kept = getattr(_local, "delivery_connection", None)
    if kept is None or kept[0] is not pool or kept[1] != pid:
        kept = _local.delivery_connection = (pool, pid, pool.get_connection())
        return kept[2]
    conn = kept[2]
    try:
        if conn.can_read():  # the server's close, or an answer nobody waits for
            conn.disconnect()
    except (redis.exceptions.ConnectionError, OSError):
        conn.disconnect()  # connects again when the delivery is sent
    return conn


def _send(conn: redis.connection.AbstractConnection, packed: bytes) -> list[bytes]:
    conn.send_packed_command([packed])
    return conn.read_response()


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
    prune_pool = registered(SCRIPTS / "prune_pool.lua")
    prune_history = registered(SCRIPTS / "prune_history.lua")
    job_pattern = k.pattern(k.job)
    with unavailable_on_error():
        connection = client()
        for member in sorted(m.decode() for m in connection.smembers(k.pools)):
            entity_id, pool = split_pool_member(member)
            count, gone = prune_pool(
                keys=[k.pool_jobs(entity_id, pool), k.pool_workers(entity_id, pool), k.pools],
                args=[job_pattern, member],
                client=connection,
            )
            if count:
                removed[member] = int(count)
            if gone:
                dropped.append(member)
        rank = 0
        while True:
            read, gone = prune_history(
                keys=[k.history], args=[job_pattern, rank, PRUNE_HISTORY_CHUNK],
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
    current = delivery_settings.current()
    k = current.keys
    job_id = "" if delivery.job_id is None else delivery.job_id
    values = (delivery.delivery_id, delivery.event, delivery.action, job_id, result.outcome,
              result.reason, http_status, now())  # fmt: skip
    entry = dict(zip(DELIVERY_LOG_FIELDS, values, strict=True))
    with unavailable_on_error():
        pipe = client().pipeline(transaction=True)
        pipe.xadd(k.deliveries, entry, maxlen=current.delivery_log_length, approximate=True)
        pipe.hincrby(k.stats, result.counter, 1)
        pipe.execute()


def count_delivery(result: Result) -> None:
    """Count a delivery without logging it: one refused before its signature was verified."""
    with unavailable_on_error():
        client().hincrby(keys().stats, result.counter, 1)


def ping() -> None:
    with unavailable_on_error():
        client().ping()


@contextlib.contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Turn any Redis failure into StoreUnavailable, logged once here."""
    try:
        yield
    except redis.RedisError as exc:
        log.error("redis.error kind=%s", type(exc).__name__)
        raise StoreUnavailable(type(exc).__name__) from exc


def read_jobs(job_ids: Sequence[str], fields: Sequence[str] = ()) -> list[dict[str, str] | None]:
    """The hashes of `job_ids`, in order, in one pipeline; None for a job whose hash is gone.

    With `fields`, only those fields are read (a missing field reads as ''). Completed jobs
    expire while their history entry may linger a moment, so callers skip the Nones.
    """
    if not job_ids:
        return []
    k = keys()
    with unavailable_on_error():
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
