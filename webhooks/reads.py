"""The reads behind the report pages and /metrics.

`reports` reads RunnerHub's state through this module only, never building a key itself. Each
read is one round trip (a pipeline where it reads several keys), and what it reads is bounded by
what a page shows: never KEYS or SCAN, never the whole history. A Redis failure is
StoreUnavailable, as for every write.

`read_jobs` is defined in `store`, beside the writes, because the lifecycle reads a job before
it reconciles it; it is offered here with the other reads.
"""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from webhooks.keys import split_pool_member
from webhooks.store import StoreUnavailable, client, keys, read_jobs, unavailable_on_error

__all__ = [
    "PoolRead",
    "StoreUnavailable",
    "count_history",
    "read_deliveries",
    "read_delivery_counters",
    "read_history_ids",
    "read_history_ranks",
    "read_history_slices",
    "read_jobs",
    "read_pools",
]


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
    with unavailable_on_error():
        members = sorted(_text(member) for member in client().smembers(k.pools))
        if not members:
            return []
        split = [split_pool_member(member) for member in members]
        pipe = client().pipeline(transaction=False)
        for entity_id, pool in split:
            pipe.smembers(k.pool_jobs(entity_id, pool))
            pipe.smembers(k.pool_workers(entity_id, pool))
        replies = pipe.execute()
    pools = []
    for index, (entity_id, pool) in enumerate(split):
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


def read_history_ids(start: float, end: float, offset: int, count: int) -> list[str]:
    """Job ids created in [start, end), newest first, skipping `offset`: one page of the index.

    One ZRANGE ... BYSCORE REV LIMIT: O(log N + offset + count) in the history's size N.
    """
    if count <= 0:
        return []
    [ids] = read_history_slices([(start, end, offset, count)])
    return ids


def read_history_slices(
    slices: Sequence[tuple[float, float, int, int]],
) -> list[list[str]]:
    """Several `read_history_ids(start, end, offset, count)` in one pipeline."""
    history = keys().history
    replies = _pipelined(
        ("ZRANGE", history, f"({end}", start, "BYSCORE", "REV", "LIMIT", offset, count)
        for start, end, offset, count in slices
    )
    return [[_text(job_id) for job_id in reply] for reply in replies]


def count_history(ranges: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """For each [start, end): how many jobs were created in it, and how many after it (the
    history rank of its newest job). Two ZCOUNTs each, O(log N), in one pipeline."""
    history = keys().history
    counts = _pipelined(
        command
        for start, end in ranges
        for command in (("ZCOUNT", history, start, f"({end}"), ("ZCOUNT", history, end, "+inf"))
    )
    return list(zip(counts[0::2], counts[1::2]))


def read_history_ranks(spans: Sequence[tuple[int, int]]) -> list[list[str]]:
    """For each (first, count): `count` job ids from rank `first` of the history, newest first.

    By rank, O(log N + count) each however deep: for sampling a long period. Ranks move when
    jobs arrive, so a span read after the ranks were counted may be shifted by a few jobs.
    """
    history = keys().history
    replies = _pipelined(("ZREVRANGE", history, first, first + count - 1) for first, count in spans)
    return [[_text(job_id) for job_id in reply] for reply in replies]


def read_deliveries(count: int) -> list[dict[str, str]]:
    """The `count` most recent entries of the delivery log, newest first, each with its stream
    id as `id`."""
    with unavailable_on_error():
        entries = client().xrevrange(keys().deliveries, count=count)
    return [
        {"id": _text(entry_id), **{_text(f): _text(v) for f, v in fields.items()}}
        for entry_id, fields in entries
    ]


def read_delivery_counters() -> dict[str, int]:
    """The delivery counters: `outcome` or `outcome:reason` to a count."""
    with unavailable_on_error():
        counters = client().hgetall(keys().stats)
    return {_text(name): int(value) for name, value in counters.items()}


def _pipelined(commands: Iterable[tuple[str | float, ...]]) -> list[Any]:
    """The replies to `commands`, each a Redis command and its arguments, sent in one
    pipeline: one round trip, none when there are no commands."""
    with unavailable_on_error():
        pipe = client().pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _numeric(job_id: str) -> tuple[int, str]:
    return (int(job_id), "") if job_id.isdigit() else (0, job_id)
