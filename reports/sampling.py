"""A sample of a period's jobs, spread evenly over its UTC days, and percentiles weighted by it.

A period of at most `size` jobs is read whole, each job standing for itself. A larger one is
read in runs of SAMPLE_BLOCK neighbours at even steps through each day, each sampled job
standing for its share of its day, so that a busy day does not drown a quiet one.
"""
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from webhooks import reads

SAMPLE_BLOCK = 10  # sampled jobs are read in runs of this many neighbours: fewer reads
DAY = 86400

Day = tuple[date, float, float]  # the day, and its part of the period: [low, high)


@dataclass(frozen=True)
class Sampled:
    """A job of the sample: how many jobs of the period it stands for, which day of the period
    (an index into the days, newest first) and the fields the sample read of it."""

    job_id: str
    weight: float
    day: int
    record: dict[str, str]


def period_days(start: float, end: float, now: float) -> list[Day]:
    """The UTC days of [start, end), newest first, each clipped to the period; a period that
    runs on past `now` ends with today."""
    last_moment = min(end, now)
    first_day = datetime.fromtimestamp(start, UTC).date()
    last_day = datetime.fromtimestamp(max(start, last_moment - 0.001), UTC).date()
    days = []
    day = last_day
    while day >= first_day:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        high = end if day == last_day else min(midnight + DAY, end)
        days.append((day, max(midnight, start), high))
        day -= timedelta(days=1)
    return days


def sample(
    days: Sequence[Day],
    counted: Sequence[tuple[int, int]],
    total: int,
    fields: Sequence[str],
    size: int,
    min_per_day: int,
) -> list[Sampled]:
    """About `size` jobs spread evenly over each day of the period, newest first, with their
    weights and `fields`; at least `min_per_day` of each day that has jobs (so that a quiet day
    beside busy ones still shows its pools); every job of the period when there are at most
    `size`.

    `counted` is reads.count_history of the days: how many jobs each holds, and how many came
    after it. Reads the history index, by score or by rank, and `fields` of the sampled jobs.
    """
    owners: list[int] = []
    if total <= size:
        slices = []
        for index, ((_, low, high), (count, _)) in enumerate(zip(days, counted)):
            if count:
                slices.append((low, high, 0, count))
                owners.append(index)
        id_lists = reads.read_history_slices(slices)
    else:
        # Runs of neighbours at even steps through each day, read by rank: O(log N) per run
        # wherever it starts, where an offset into the day would walk the index up to it.
        spans = []
        for index, (count, newer) in enumerate(counted):
            wanted = min(count, max(math.ceil(size * count / total), min_per_day))
            runs = math.ceil(wanted / SAMPLE_BLOCK)
            for run in range(runs if count else 0):
                offset = run * count // runs
                spans.append((newer + offset, min(SAMPLE_BLOCK, count - offset)))
                owners.append(index)
        id_lists = reads.read_history_ranks(spans)
    ids_per_day: dict[int, list[str]] = defaultdict(list)
    for owner, ids in zip(owners, id_lists):
        ids_per_day[owner].extend(ids)
    ordered = [(index, job_id) for index in sorted(ids_per_day) for job_id in ids_per_day[index]]
    records = reads.read_jobs([job_id for _, job_id in ordered], fields)
    counts = [count for count, _ in counted]
    return [
        Sampled(job_id, counts[index] / len(ids_per_day[index]), index, record)
        for (index, job_id), record in zip(ordered, records)
        if record is not None
    ]


def weighted_percentile(values: Sequence[tuple[float, float]], fraction: float) -> float | None:
    """The nearest-rank percentile of (value, weight) pairs, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    threshold = fraction * sum(weight for _, weight in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= threshold - 1e-9:
            return value
    return ordered[-1][0]
