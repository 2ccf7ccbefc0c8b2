"""The jobs of /history by account and pool: a page's rows in groups, and the sampled jobs
counted per pool, with their wait percentiles, and per day."""
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from reports.jobs import JobRow, epoch
from reports.sampling import Day, Sampled, weighted_percentile


@dataclass(frozen=True)
class JobGroup:
    """The jobs of one account's pool on this page, newest first."""

    entity_id: str
    entity_type: str
    account: str
    pool: str
    jobs: tuple[JobRow, ...]


@dataclass(frozen=True)
class PoolStats:
    """One account's pool over the filtered period."""

    entity_id: str
    account: str
    pool: str
    jobs: int
    wait_p50: float | None
    wait_p95: float | None
    waits: int  # how many started jobs the percentiles are taken over


def grouped(rows: Sequence[JobRow]) -> tuple[JobGroup, ...]:
    """The page's jobs by account and pool, groups in the order of their newest job."""
    groups: dict[tuple[str, str], list[JobRow]] = {}
    for row in rows:
        groups.setdefault((row.entity_id, row.pool), []).append(row)
    return tuple(
        JobGroup(
            entity_id=entity_id,
            entity_type=jobs[0].entity_type,
            account=jobs[0].account,
            pool=pool,
            jobs=tuple(jobs),
        )
        for (entity_id, pool), jobs in groups.items()
    )


def pool_stats(sample: Sequence[Sampled]) -> tuple[PoolStats, ...]:
    """Per account and pool, how many jobs the sample stands for and the percentiles of their
    waits (queued → started), by account name and pool."""
    jobs: dict[tuple[str, str], float] = defaultdict(float)
    names: dict[tuple[str, str], str] = {}
    waits: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for job in sample:
        record, weight = job.record, job.weight
        key = (record["entity_id"], record["k8s_pool"])
        jobs[key] += weight
        names[key] = record["entity_name"] or names.get(key, "")
        created, started = epoch(record["created_at"]), epoch(record["started_at"])
        if created is not None and started is not None:
            waits[key].append((max(0.0, started - created), weight))
    stats = [
        PoolStats(
            entity_id=entity_id,
            account=names[(entity_id, pool)],
            pool=pool,
            jobs=round(count),
            wait_p50=weighted_percentile(waits[(entity_id, pool)], 0.50),
            wait_p95=weighted_percentile(waits[(entity_id, pool)], 0.95),
            waits=len(waits[(entity_id, pool)]),
        )
        for (entity_id, pool), count in jobs.items()
    ]
    return tuple(sorted(stats, key=lambda s: ((s.account or s.entity_id).lower(), s.pool)))


def per_day(
    sample: Sequence[Sampled], days: Sequence[Day], max_days: int
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], tuple[date, ...], bool]:
    """Jobs per day per node pool, oldest day first, from the first day with jobs, at most
    `max_days` days: the pools, the counts per day and pool, the days, and whether older days
    with jobs were left out."""
    counts_per_day: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for job in sample:
        counts_per_day[job.day][job.record["k8s_pool"]] += job.weight
    if not counts_per_day:
        return (), (), (), False
    series = tuple(sorted({pool for pools in counts_per_day.values() for pool in pools}))
    # days are newest first: the oldest day with jobs has the highest index.
    indexes = list(range(max(counts_per_day), -1, -1))[-max_days:]
    counts = tuple(
        tuple(round(counts_per_day[index].get(pool, 0.0)) for pool in series)
        for index in indexes
    )
    truncated = max(counts_per_day) + 1 > max_days
    return series, counts, tuple(days[index][0] for index in indexes), truncated
