"""What /history shows: jobs newest first, filtered and paged, with per-pool counts, wait-time
percentiles and jobs per day.

Every read is bounded by the page, never by the history:
- the period's size comes from one ZCOUNT per day (O(log N) each);
- a page without account/pool/status filters is one ranged read of the history index;
- a filtered page walks the index of the period newest first, reading the filter fields of at
  most SCAN_LIMIT jobs, and says so when that limit stopped it before the page was full;
- per-pool counts, percentiles and the chart come from a sample of at most about SAMPLE_SIZE
  jobs spread evenly over every day of the period (all of them when the period holds fewer),
  and are marked as estimates when sampled.
"""
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from reports import grouping, sampling
from reports.jobs import iso_utc, job_row, rounded
from reports.sampling import DAY
from webhooks import reads

DEFAULT_PER_PAGE = 100
SCAN_LIMIT = 10_000
SCAN_CHUNK = 1_000
SAMPLE_SIZE = 1_000
MIN_SAMPLE_PER_DAY = 20  # so that a quiet day beside busy ones still shows its pools
MAX_CHART_DAYS = 92
FILTER_FIELDS = ("status", "entity_id", "entity_name", "k8s_pool", "created_at", "started_at")

# Times are clamped into this range: nothing was queued before the epoch, and LATEST leaves
# a day of calendar beyond it for the arithmetic of whole days.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = 0.0
LATEST = datetime(9999, 12, 30, tzinfo=UTC).timestamp()

_RELATIVE = re.compile(r"^-(?P<amount>\d{1,6})(?P<unit>[mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
TIME_HELP = (
    "use an ISO date (2025-01-31), an ISO time (2025-01-31T12:00Z) or a relative time like -7d"
)


class QueryError(ValueError):
    """A time names no moment; the message says which parameter and why."""


@dataclass(frozen=True)
class HistoryQuery:
    """The filters and page of a /history request, as reports.forms.HistoryFilters checked
    them. `start` is inclusive, `end` exclusive."""

    start: float
    end: float  # math.inf: up to now, and whatever arrives while the page is read
    account: str = ""
    pool: str = ""
    status: str = ""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    start_text: str = ""  # as given, so that page links keep a relative period relative
    end_text: str = ""

    @property
    def filtered(self) -> bool:
        return bool(self.account or self.pool or self.status)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def matches(self, record: Mapping[str, str]) -> bool:
        """Whether a job (its FILTER_FIELDS at least) passes the account, pool and status
        filters."""
        if self.status and record.get("status") != self.status:
            return False
        if self.pool and record.get("k8s_pool", "").lower() != self.pool.lower():
            return False
        if self.account and self.account.lower() not in (
            record.get("entity_name", "").lower(),
            record.get("entity_id", ""),
        ):
            return False
        return True

    def params(self, page: int | None = None) -> dict[str, str]:
        """The query string of this request, or of another page of it."""
        params = {
            "start": self.start_text,
            "end": self.end_text,
            "account": self.account,
            "pool": self.pool,
            "status": self.status,
        }
        params = {name: value for name, value in params.items() if value}
        params["page"] = str(self.page if page is None else page)
        params["per_page"] = str(self.per_page)
        return params


def parse_time(name: str, text: str, now: float, is_end: bool) -> float:
    """`-7d` (m, h, d, w), `2025-01-31` (a whole day: its end when `is_end`) or an ISO time
    (UTC unless it says otherwise), as epoch seconds clamped to [EARLIEST, LATEST]: no job is
    older than the epoch, and every time in that range has a date."""
    relative = _RELATIVE.match(text)
    if relative:
        return _clamped(now - int(relative["amount"]) * _UNIT_SECONDS[relative["unit"]])
    if text == "now":
        return now
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            # Counted in days, not through datetime: the day after 9999-12-31 has no date.
            return _clamped(((day - _EPOCH.date()).days + (1 if is_end else 0)) * DAY)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name}: {TIME_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return _clamped((moment - _EPOCH).total_seconds())
    except OverflowError:  # an offset that pushes year 1 or 9999 past the calendar
        return EARLIEST if moment.year < 5000 else LATEST


def _clamped(seconds: float) -> float:
    return min(max(seconds, EARLIEST), LATEST)


@dataclass(frozen=True)
class HistoryReport:
    query: HistoryQuery
    drawn_at: float
    groups: tuple[grouping.JobGroup, ...]
    total: int  # jobs matching the filters in the period; an estimate unless `total_exact`
    total_exact: bool
    has_next: bool
    scan_truncated: bool  # SCAN_LIMIT stopped a filtered page before it was full
    period_jobs: int  # every job of the period, before the account/pool/status filters
    sampled: int  # jobs read for pool_stats and the per-day counts
    stats_exact: bool  # False: pool_stats and day_counts are estimated from the sample
    pool_stats: tuple[grouping.PoolStats, ...]
    days: tuple[date, ...]  # oldest first
    series: tuple[str, ...]  # node pools in the chart
    day_counts: tuple[tuple[int, ...], ...]  # per day, per series
    chart_truncated: bool  # the period has more than MAX_CHART_DAYS days with jobs

    @property
    def last_page(self) -> int | None:
        if not self.total_exact:
            return None
        return max(1, math.ceil(self.total / self.query.per_page))

    def page_links(self) -> dict[str, int]:
        """GitHub-style page relations: first and prev after the first page, next and last (when
        the total is known) before the last one."""
        page, links = self.query.page, {}
        if page > 1:
            links["first"] = 1
            links["prev"] = min(page - 1, self.last_page or page - 1)
        if self.has_next:
            links["next"] = page + 1
            if self.last_page is not None:
                links["last"] = self.last_page
        return links

    def as_json(self) -> dict[str, Any]:
        query = self.query
        return {
            "drawn_at": iso_utc(self.drawn_at),
            "period": {
                "start": iso_utc(query.start),
                "end": iso_utc(query.end) if math.isfinite(query.end) else None,
            },
            "filters": {
                "account": query.account or None,
                "pool": query.pool or None,
                "status": query.status or None,
            },
            "page": query.page,
            "per_page": query.per_page,
            "total": self.total,
            "total_is_estimate": not self.total_exact,
            "has_next": self.has_next,
            "scan_truncated": self.scan_truncated,
            "scan_limit": SCAN_LIMIT,
            "groups": [
                {
                    "account": group.account,
                    "entity_id": group.entity_id,
                    "entity_type": group.entity_type,
                    "pool": group.pool,
                    "jobs": [job.as_json() for job in group.jobs],
                }
                for group in self.groups
            ],
            "pools": [
                {
                    "account": stats.account,
                    "entity_id": stats.entity_id,
                    "pool": stats.pool,
                    "jobs": stats.jobs,
                    "wait_p50_seconds": rounded(stats.wait_p50),
                    "wait_p95_seconds": rounded(stats.wait_p95),
                    "started_jobs": stats.waits,
                }
                for stats in self.pool_stats
            ],
            "sample": {
                "jobs": self.sampled,
                "period_jobs": self.period_jobs,
                "is_estimate": not self.stats_exact,
            },
            "days": [
                {"date": day.isoformat(), "pools": dict(zip(self.series, counts))}
                for day, counts in zip(self.days, self.day_counts)
            ],
        }


def build_history(query: HistoryQuery, show_private: bool) -> HistoryReport:
    """The page of jobs `query` asks for, with the period's per-pool figures and daily counts.

    Reads the history index and job hashes only (see the module docstring for the bounds).
    Raises reads.StoreUnavailable when Redis fails.
    """
    now = time.time()
    days = sampling.period_days(query.start, query.end, now)
    counted = reads.count_history([(low, high) for _, low, high in days])
    counts = [count for count, _ in counted]
    period_jobs = sum(counts)
    sample = sampling.sample(
        days, counted, period_jobs, FILTER_FIELDS, size=SAMPLE_SIZE, min_per_day=MIN_SAMPLE_PER_DAY
    )
    matching = [job for job in sample if query.matches(job.record)]
    stats_exact = period_jobs <= SAMPLE_SIZE

    if not query.filtered:
        page_ids = reads.read_history_ids(query.start, query.end, query.offset, query.per_page)
        total, total_exact = period_jobs, True
        has_next, truncated = query.offset + query.per_page < period_jobs, False
    elif stats_exact:
        # The sample is the whole period, newest first: filter it instead of reading again.
        page_ids = [job.job_id for job in matching[query.offset : query.offset + query.per_page]]
        total, total_exact = len(matching), True
        has_next, truncated = query.offset + query.per_page < len(matching), False
    else:
        page_ids, has_next, truncated, exact_total = _scan(query, period_jobs)
        total_exact = exact_total is not None
        total = exact_total if total_exact else round(sum(job.weight for job in matching))

    records = reads.read_jobs(page_ids)
    rows = [job_row(record, show_private, now) for record in records if record is not None]
    pool_stats = grouping.pool_stats(matching)
    series, day_counts, chart_days, chart_truncated = grouping.per_day(
        matching, days, MAX_CHART_DAYS
    )
    return HistoryReport(
        query=query,
        drawn_at=now,
        groups=grouping.grouped(rows),
        total=total,
        total_exact=total_exact,
        has_next=has_next,
        scan_truncated=truncated,
        period_jobs=period_jobs,
        sampled=len(sample),
        stats_exact=stats_exact,
        pool_stats=pool_stats,
        days=chart_days,
        series=series,
        day_counts=day_counts,
        chart_truncated=chart_truncated,
    )


def _scan(query: HistoryQuery, period_jobs: int) -> tuple[list[str], bool, bool, int | None]:
    """Walk the period newest first until the filtered page is full, at most SCAN_LIMIT jobs.

    Returns the page's ids, whether a next page exists, whether the limit stopped the walk
    before the page was full, and the exact number of matching jobs when the walk reached the
    end of the period.
    """
    to_skip, page_ids, matched, position = query.offset, [], 0, 0
    while position < min(period_jobs, SCAN_LIMIT) and len(page_ids) <= query.per_page:
        chunk = min(SCAN_CHUNK, SCAN_LIMIT - position)
        ids = reads.read_history_ids(query.start, query.end, position, chunk)
        if not ids:
            break
        position += len(ids)
        for job_id, record in zip(ids, reads.read_jobs(ids, FILTER_FIELDS)):
            if record is None or not query.matches(record):
                continue
            matched += 1
            if to_skip:
                to_skip -= 1
            elif len(page_ids) <= query.per_page:
                page_ids.append(job_id)
    has_next = len(page_ids) > query.per_page
    reached_end = position >= period_jobs
    truncated = not reached_end and not has_next
    return page_ids[: query.per_page], has_next, truncated, matched if reached_end else None
