"""The scheduler's Redis: what it reads of the demand, its workers, its lease and its counters.

Every change to a worker goes through one of the scripts in `runners/scripts/`, each of which
first compares the lease with the caller's: a leader that lost its lease (paused past it, cut
off from Redis) cannot change anything, however late its calls arrive.
"""
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import redis
from django.conf import settings
from redis.commands.core import Script

from runners.decision import SUPPLY_STATES, Job, State, Worker, label_key, label_set
from webhooks.keys import split_pool_member
from webhooks import store as webhook_store
from webhooks.store import StoreUnavailable, client, keys, registered, unavailable_on_error

SCRIPTS = Path(__file__).resolve().parent / "scripts"
JOB_FIELDS = (
    "status", "entity_id", "entity_type", "entity_name", "owner_id", "repo", "k8s_pool",
    "k8s_image", "labels", "created_at", "installation_id", "runner_name", "mapping_id",
    "started_at", "checked_at",
)  # fmt: skip
# Queued-to-pod-created latency buckets (seconds), exported as a Prometheus histogram.
LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)

__all__ = ["StoreUnavailable", "Fenced"]


class Fenced(Exception):
    """This replica's lease is gone: another replica leads now. Stop acting at once."""


def _script(name: str) -> Script:
    return registered(SCRIPTS / f"{name}.lua")


# --- the lease --------------------------------------------------------------------------------


def take_lease(replica: str, holder: str, seconds: int) -> tuple[str, str]:
    """Acquire the lease, or renew it when `holder` is ours. Returns (`acquired` | `renewed` |
    `held`, the lease's value: `{replica} {fencing token}`)."""
    k = keys()
    with unavailable_on_error():
        outcome, value = _script("lease")(
            keys=[k.scheduler_lease, k.scheduler_fence],
            args=[replica, seconds * 1000, holder],
            client=client(),
        )
    return outcome.decode(), value.decode()


def release_lease(holder: str) -> None:
    with unavailable_on_error():
        _script("release")(keys=[keys().scheduler_lease], args=[holder], client=client())


def lease_holder() -> str:
    with unavailable_on_error():
        value = client().get(keys().scheduler_lease)
    return value.decode() if value else ""


# --- reads --------------------------------------------------------------------------------------


def read_demand() -> list[Job]:
    """Every pending and running job of every pool: the pools set, then the pools' job sets,
    then the jobs' fields, each one pipelined round trip (never KEYS or SCAN)."""
    k = keys()
    with unavailable_on_error():
        members = [member.decode() for member in client().smembers(k.pools)]
        pipe = client().pipeline(transaction=False)
        for member in members:
            pipe.smembers(k.pool_jobs(*split_pool_member(member)))
        job_ids = sorted({job_id.decode() for ids in pipe.execute() for job_id in ids})
        pipe = client().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(k.job(job_id), JOB_FIELDS)
        replies = pipe.execute()
    jobs = []
    for job_id, reply in zip(job_ids, replies):
        fields = dict(zip(JOB_FIELDS, ((value or b"").decode() for value in reply)))
        if fields["status"] not in ("pending", "running"):
            continue  # expired, or completed a moment ago
        jobs.append(_job(job_id, fields))
    return jobs


def _job(job_id: str, fields: Mapping[str, str]) -> Job:
    try:
        labels = json.loads(fields["labels"] or "[]")
    except ValueError:
        labels = []
    # Jobs recorded before owner ids were kept: an organization's owner is the entity itself.
    owner_id = fields["owner_id"] or fields["entity_id"]
    return Job(
        job_id=job_id,
        status=fields["status"],
        owner_id=owner_id,
        entity_id=fields["entity_id"],
        entity_type=fields["entity_type"],
        entity_name=fields["entity_name"],
        repo=fields["repo"],
        pool=fields["k8s_pool"],
        image=fields["k8s_image"],
        labels=label_set(str(label) for label in labels),
        created_at=_float(fields["created_at"]),
        installation_id=fields["installation_id"],
        runner_name=fields["runner_name"],
        mapping_id=fields["mapping_id"],
        last_news=max(
            _float(fields["created_at"]), _float(fields["started_at"]), _float(fields["checked_at"])
        ),
    )


def read_workers(names: Iterable[str] | None = None) -> list[Worker]:
    """The live workers (or the named ones), in one pipelined round trip after the live set."""
    if names is None:
        with unavailable_on_error():
            names = [name.decode() for name in client().smembers(keys().workers)]
    names = sorted(names)
    return [
        _worker(name, fields)
        for name, fields in zip(names, read_worker_hashes(names), strict=True)
        if fields
    ]


def read_worker_hashes(names: Sequence[str]) -> list[dict[str, str]]:
    """The raw hashes of these workers, for the report pages ({} for one that expired)."""
    k = keys()
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for name in names:
            pipe.hgetall(k.worker(name))
        replies = pipe.execute()
    return [{f.decode(): v.decode() for f, v in reply.items()} for reply in replies]


def _worker(name: str, fields: Mapping[str, str]) -> Worker:
    try:
        state = State(fields.get("state", ""))
    except ValueError:
        state = State.STOPPING  # a record this version cannot read: take it down cleanly
    return Worker(
        name=name,
        state=state,
        owner_id=fields.get("owner_id", ""),
        entity_id=fields.get("entity_id", ""),
        pool=fields.get("k8s_pool", ""),
        image=fields.get("k8s_image", ""),
        labels=tuple(label for label in fields.get("label_key", "").split("\n") if label),
        created_at=_float(fields.get("created_at", "")),
        updated_at=_float(fields.get("updated_at", "")),
        job_id=fields.get("job_id", ""),
        runner_id=fields.get("runner_id", ""),
        target=fields.get("target", ""),
        reason=fields.get("reason", ""),
    )


def worker_field(name: str, field: str) -> str:
    with unavailable_on_error():
        value = client().hget(keys().worker(name), field)
    return value.decode() if value else ""


# --- the scripts that change workers ---------------------------------------------------------


def reserve(
    holder: str,
    name: str,
    job: Job,
    account_cap: int | None,
    board_cap: int,
    target: str,
) -> str:
    """Record a new worker for `job`'s group, if the caps and the shortfall still allow it.

    Returns `reserved`, or why not: `account_cap`, `board_cap`, `no_shortfall`, `exists`.
    Raises Fenced when the lease is no longer `holder`'s.
    """
    k = keys()
    now = webhook_store.now()
    fields = {
        "state": State.RESERVED,
        "owner_id": job.owner_id,
        "entity_id": job.entity_id,
        "entity_type": job.entity_type,
        "entity_name": job.entity_name,
        "k8s_pool": job.pool,
        "k8s_image": job.image,
        "labels": json.dumps(list(job.labels)),
        "label_key": label_key(job.labels),
        "for_job": job.job_id,
        "job_queued_at": job.created_at,
        "repo": job.repo,
        "mapping_id": job.mapping_id,
        "target": target,
        "job_id": "",
        "created_at": now,
        "updated_at": now,
        "reserved_at": now,
        "leader": holder,
    }
    with unavailable_on_error():
        outcome = _script("reserve")(
            keys=[
                k.scheduler_lease, k.worker(name), k.workers,
                k.pool_workers(job.entity_id, job.pool), k.account_workers(job.owner_id),
                k.board_starting(job.pool), k.pool_jobs(job.entity_id, job.pool),
            ],
            args=[
                holder, name, label_key(job.labels), job.image,
                -1 if account_cap is None else account_cap, board_cap,
                k.pattern(k.job), k.pattern(k.worker),
                json.dumps({state: True for state in SUPPLY_STATES}),
                *_flatten(fields),
            ],
            client=client(),
        )  # fmt: skip
    outcome = outcome.decode()
    if outcome == "fenced":
        raise Fenced(holder)
    return outcome


def advance(holder: str, worker: Worker, fields: Mapping[str, object], started: bool = False) -> bool:
    """Record a step of a live worker (its state moves only with `fields['state']`).

    `started`: its pod runs now, so it leaves its board's count of pods not yet running.
    Returns False when the worker is gone or finished. Raises Fenced.
    """
    k = keys()
    now = webhook_store.now()
    values = {**fields, "updated_at": now}
    if "state" in fields:
        values[f"{fields['state']}_at"] = now
    with unavailable_on_error():
        outcome = _script("advance")(
            keys=[k.scheduler_lease, k.worker(worker.name), k.board_starting(worker.pool)],
            args=[holder, worker.name, "1" if started else "0", *_flatten(values)],
            client=client(),
        )
    outcome = outcome.decode()
    if outcome == "fenced":
        raise Fenced(holder)
    return outcome == "ok"


def finish(holder: str, worker: Worker, fields: Mapping[str, object]) -> bool:
    """Take a worker out of every live set and let its record expire with the history.
    Returns False when it was gone already. Raises Fenced."""
    k = keys()
    at = webhook_store.now()
    values = {**fields, "finished_at": at, "updated_at": at}
    with unavailable_on_error():
        outcome = _script("finish")(
            keys=[
                k.scheduler_lease, k.worker(worker.name), k.workers,
                k.pool_workers(worker.entity_id, worker.pool),
                k.account_workers(worker.owner_id), k.board_starting(worker.pool),
            ],
            args=[holder, worker.name, settings.HISTORY_RETENTION_DAYS * 86400, *_flatten(values)],
            client=client(),
        )  # fmt: skip
    outcome = outcome.decode()
    if outcome == "fenced":
        raise Fenced(holder)
    return outcome == "ok"


def _flatten(fields: Mapping[str, object]) -> list[str]:
    return [str(item) for pair in fields.items() for item in pair]


# --- counters, targets, sweeps, the pass --------------------------------------------------------


def count(counters: Mapping[str, int]) -> None:
    """Add to the scheduler's counters (runners started, failed, GitHub calls, ...)."""
    if not counters:
        return
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for name, amount in counters.items():
            pipe.hincrby(keys().scheduler_stats, name, amount)
        pipe.execute()


def observe_latency(seconds: float) -> None:
    """One queued-to-pod-created time, into the histogram's cumulative buckets."""
    stats = keys().scheduler_stats
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(stats, f"latency_bucket:{bound}", 1)
        pipe.hincrby(stats, "latency_count", 1)
        pipe.hincrbyfloat(stats, "latency_sum", round(seconds, 3))
        pipe.execute()


def read_stats() -> dict[str, float]:
    with unavailable_on_error():
        values = client().hgetall(keys().scheduler_stats)
    return {name.decode(): float(value) for name, value in values.items()}


def remember_target(entity_id: str, target: str) -> None:
    with unavailable_on_error():
        client().hset(keys().github_targets, entity_id, target)


def forget_target(entity_id: str) -> None:
    with unavailable_on_error():
        client().hdel(keys().github_targets, entity_id)


def read_targets() -> dict[str, str]:
    with unavailable_on_error():
        values = client().hgetall(keys().github_targets)
    return {entity.decode(): target.decode() for entity, target in values.items()}


def record_rate_limit(installation: str, limit: int, remaining: int, reset: int) -> None:
    value = json.dumps({"limit": limit, "remaining": remaining, "reset": reset})
    with unavailable_on_error():
        client().hset(keys().github_limits, installation, value)


def read_rate_limits() -> dict[str, dict[str, int]]:
    with unavailable_on_error():
        values = client().hgetall(keys().github_limits)
    return {name.decode(): json.loads(value) for name, value in values.items()}


def cached(key: str) -> str:
    with unavailable_on_error():
        value = client().get(key)
    return value.decode() if value else ""


def cache_value(key: str, value: str, seconds: int) -> None:
    with unavailable_on_error():
        client().set(key, value, ex=seconds)


def record_pass(holder: str, seconds: float, fields: Mapping[str, object] = ()) -> None:
    """The leader finished a pass: /health and /metrics read when, who and how long."""
    values = {"last_pass_at": webhook_store.now(), "leader": holder, "pass_seconds": f"{seconds:.3f}"}
    with unavailable_on_error():
        client().hset(keys().scheduler_state, mapping={**values, **dict(fields)})


def read_worker_states() -> dict[str, int]:
    """How many live workers are in each state."""
    k = keys()
    with unavailable_on_error():
        names = list(client().smembers(k.workers))
        pipe = client().pipeline(transaction=False)
        for name in names:
            pipe.hget(k.worker(name.decode()), "state")
        states = pipe.execute() if names else []
    counts: dict[str, int] = {state.value: 0 for state in State if state != State.FINISHED}
    for state in states:
        if state is not None:
            counts[state.decode()] = counts.get(state.decode(), 0) + 1
    return counts


def read_state() -> dict[str, str]:
    with unavailable_on_error():
        values = client().hgetall(keys().scheduler_state)
    return {name.decode(): value.decode() for name, value in values.items()}


# --- reconciliation -----------------------------------------------------------------------------


def spent(installation: str, window: int) -> int:
    """Calls reconciliation made in an installation's current rate-limit window."""
    with unavailable_on_error():
        value = client().get(keys().github_spent(installation, window))
    return int(value or 0)


def spend(installation: str, window: int) -> None:
    key = keys().github_spent(installation, window)
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 2 * 3600)
        pipe.execute()


def mark_checked(job_id: str) -> None:
    """GitHub agreed with RunnerHub about this job: no need to ask again for a while."""
    with unavailable_on_error():
        _script("checked")(keys=[keys().job(job_id)], args=[webhook_store.now()], client=client())


def read_redelivered() -> dict[str, dict[str, int]]:
    with unavailable_on_error():
        values = client().hgetall(keys().redelivered)
    return {guid.decode(): json.loads(value) for guid, value in values.items()}


def remember_redelivery(guid: str, count: int, attempt: int) -> None:
    """Remember a redelivery asked for (how many for this delivery, and of which failed
    attempt), so the same delivery is not asked for in a loop. The hash is dropped a day after
    the last one (a window is hours)."""
    k = keys()
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        pipe.hset(k.redelivered, guid, json.dumps({"count": count, "attempt": attempt}))
        pipe.expire(k.redelivered, 86400)
        pipe.execute()


# --- the events stream: the scheduler's wake-up call -------------------------------------------


def ensure_group() -> None:
    """The consumer group of the events stream, created once (from now: history is not work)."""
    k = keys()
    with unavailable_on_error():
        try:
            client().xgroup_create(k.events, k.events_group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def wait_for_events(consumer: str, block_seconds: float, idle_ms: int) -> list[str]:
    """Entries to handle: this consumer's own unacknowledged ones first, then those of a dead
    consumer (idle for `idle_ms`), then new ones, waiting up to `block_seconds` for them.
    Returns their ids, to acknowledge after the pass."""
    k = keys()
    group = k.events_group
    with unavailable_on_error():
        connection = client()
        try:
            own = connection.xreadgroup(group, consumer, {k.events: "0"}, count=1000)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            ensure_group()
            own = []
        ids = [entry_id for _, entries in own for entry_id, _ in entries]
        if not ids:
            # With justid, redis-py answers the claimed ids alone.
            ids = list(
                connection.xautoclaim(
                    k.events, group, consumer, idle_ms, "0-0", count=1000, justid=True
                )
            )
        if not ids:
            fresh = connection.xreadgroup(
                group, consumer, {k.events: ">"}, count=1000, block=int(block_seconds * 1000)
            )
            ids = [entry_id for _, entries in fresh or [] for entry_id, _ in entries]
    return [entry_id.decode() if isinstance(entry_id, bytes) else entry_id for entry_id in ids]


def acknowledge(ids: Sequence[str]) -> None:
    if not ids:
        return
    k = keys()
    with unavailable_on_error():
        client().xack(k.events, k.events_group, *ids)


def events_lag() -> tuple[int, int]:
    """The consumer group's (lag: entries not yet delivered, pending: not yet acknowledged)."""
    k = keys()
    with unavailable_on_error():
        try:
            groups = client().xinfo_groups(k.events)
        except redis.ResponseError:
            return 0, 0
    for group in groups:
        name = group.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == k.events_group:
            return int(group.get("lag") or 0), int(group.get("pending") or 0)
    return 0, 0


def forget_idle_consumers(idle_ms: int) -> int:
    """Remove consumers of replicas long gone that hold nothing (they only cost memory)."""
    k = keys()
    removed = 0
    with unavailable_on_error():
        try:
            consumers = client().xinfo_consumers(k.events, k.events_group)
        except redis.ResponseError:
            return 0
        for consumer in consumers:
            if int(consumer.get("pending", 0)) == 0 and int(consumer.get("idle", 0)) > idle_ms:
                name = consumer["name"]
                client().xgroup_delconsumer(k.events, k.events_group, name)
                removed += 1
    return removed


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0

