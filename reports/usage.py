"""What /usage shows: every pool's demand (by label set), its supply, and the delivery log."""
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from reports.jobs import JobRow, epoch, iso_utc, job_row, rounded
from runners import store as runner_store
from webhooks import reads
from webhooks.outcomes import OUTCOMES, REASONS, WHY, Reason

RECENT_DELIVERIES = 30


@dataclass(frozen=True)
class LabelSetUsage:
    """The active jobs of one pool that carry exactly this label set: a runner serves only
    jobs whose labels it carries, so two label sets in one pool do not share supply."""

    labels: tuple[str, ...]
    jobs: tuple[JobRow, ...]
    pending: int
    running: int


@dataclass(frozen=True)
class WorkerRow:
    """One runner of a pool: its state, how long it has been in it and since it was created,
    and the job it runs once it has taken one."""

    name: str
    state: str  # reserved | registered | launched | running | stopping; unknown once expired
    labels: tuple[str, ...]
    job_id: str
    created_at: float | None
    state_since: float | None
    age_seconds: float | None
    state_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "labels": list(self.labels),
            "job_id": self.job_id or None,
            "created_at": iso_utc(self.created_at),
            "age_seconds": rounded(self.age_seconds),
            "state_seconds": rounded(self.state_seconds),
        }


@dataclass(frozen=True)
class PoolUsage:
    entity_id: str
    entity_type: str
    account: str  # '' when the pool has no active job to name its account
    pool: str
    label_sets: tuple[LabelSetUsage, ...]
    workers: tuple[WorkerRow, ...]
    pending: int
    running: int

    @property
    def idle(self) -> bool:
        return not (self.pending or self.running or self.workers)


@dataclass(frozen=True)
class DeliveryRow:
    stream_id: str
    at: float | None
    delivery: str
    event: str
    action: str
    job_id: str
    outcome: str
    reason: str
    why: str
    http_status: str


@dataclass(frozen=True)
class UsageReport:
    drawn_at: float
    pools: tuple[PoolUsage, ...]
    deliveries: tuple[DeliveryRow, ...]

    @property
    def active_pools(self) -> tuple[PoolUsage, ...]:
        return tuple(pool for pool in self.pools if not pool.idle)

    @property
    def idle_pools(self) -> tuple[PoolUsage, ...]:
        return tuple(pool for pool in self.pools if pool.idle)

    @property
    def pending(self) -> int:
        return sum(pool.pending for pool in self.pools)

    @property
    def running(self) -> int:
        return sum(pool.running for pool in self.pools)

    @property
    def workers(self) -> int:
        return sum(len(pool.workers) for pool in self.pools)

    def as_json(self) -> dict[str, Any]:
        return {
            "drawn_at": iso_utc(self.drawn_at),
            "totals": {"pending": self.pending, "running": self.running, "workers": self.workers},
            "pools": [
                {
                    "entity_id": pool.entity_id,
                    "entity_type": pool.entity_type or None,
                    "account": pool.account or None,
                    "pool": pool.pool,
                    "pending": pool.pending,
                    "running": pool.running,
                    "workers": [worker.as_json() for worker in pool.workers],
                    "label_sets": [
                        {
                            "labels": list(label_set.labels),
                            "pending": label_set.pending,
                            "running": label_set.running,
                            "jobs": [job.as_json() for job in label_set.jobs],
                        }
                        for label_set in pool.label_sets
                    ],
                }
                for pool in self.pools
            ],
            "deliveries": [
                {
                    "at": iso_utc(row.at),
                    "delivery": row.delivery,
                    "event": row.event,
                    "action": row.action or None,
                    "job_id": row.job_id or None,
                    "outcome": row.outcome,
                    "reason": row.reason or None,
                    "why": row.why or None,
                    "http_status": int(row.http_status) if row.http_status.isdigit() else None,
                }
                for row in self.deliveries
            ],
        }


def build_usage(show_private: bool, deliveries: int = RECENT_DELIVERIES) -> UsageReport:
    """Every pool of the pools set with its pending and running jobs split by label set, its
    workers, and the `deliveries` most recent deliveries.

    Reads the pools set, each pool's jobs and workers sets, the hashes of the active jobs and of
    the live workers, and the head of the delivery log: five round trips, bounded by the active
    jobs and workers, never by the history.
    Raises reads.StoreUnavailable when Redis fails.
    """
    pools = reads.read_pools()
    active_ids = [job_id for pool in pools for job_id in pool.job_ids]
    now = time.time()
    records = reads.read_jobs(active_ids)
    jobs_by_id = {
        job_id: job_row(record, show_private, now)
        for job_id, record in zip(active_ids, records)
        if record is not None
    }
    names = [name for pool in pools for name in pool.workers]
    workers = {
        name: _worker_row(name, fields, now)
        for name, fields in zip(names, runner_store.read_worker_hashes(names))
    }
    usage = [
        _pool_usage(
            pool,
            [jobs_by_id[job_id] for job_id in pool.job_ids if job_id in jobs_by_id],
            tuple(workers[name] for name in pool.workers),
        )
        for pool in pools
    ]
    # The pools set only knows ids: an idle pool borrows its name from a busy pool of its account.
    accounts = {pool.entity_id: (pool.account, pool.entity_type) for pool in usage if pool.account}
    usage = [
        replace(pool, account=accounts[pool.entity_id][0], entity_type=accounts[pool.entity_id][1])
        if not pool.account and pool.entity_id in accounts
        else pool
        for pool in usage
    ]
    # Pools with demand or supply first; then by account and pool, so the page reads the same
    # from one refresh to the next.
    usage.sort(
        key=lambda pool: (
            pool.idle,
            not pool.account,
            pool.account.lower(),
            pool.entity_id,
            pool.pool,
        )
    )
    return UsageReport(
        drawn_at=now,
        pools=tuple(usage),
        deliveries=tuple(_delivery_row(entry) for entry in reads.read_deliveries(deliveries)),
    )


def _worker_row(name: str, fields: dict[str, str], now: float) -> WorkerRow:
    created_at = epoch(fields.get("created_at", ""))
    state_since = epoch(fields.get("updated_at", "")) or created_at
    labels = tuple(label for label in fields.get("label_key", "").split("\n") if label)
    return WorkerRow(
        name=name,
        state=fields.get("state", "unknown"),
        labels=labels,
        job_id=fields.get("job_id", ""),
        created_at=created_at,
        state_since=state_since,
        age_seconds=None if created_at is None else max(0.0, now - created_at),
        state_seconds=None if state_since is None else max(0.0, now - state_since),
    )


def _pool_usage(
    pool: reads.PoolRead, jobs: list[JobRow], workers: tuple[WorkerRow, ...]
) -> PoolUsage:
    by_labels: dict[tuple[str, ...], list[JobRow]] = defaultdict(list)
    for job in jobs:
        by_labels[tuple(sorted(label.lower() for label in job.labels))].append(job)
    label_sets = tuple(
        LabelSetUsage(
            labels=labels,
            jobs=tuple(sorted(members, key=_longest_waiting_first)),
            pending=sum(job.status == "pending" for job in members),
            running=sum(job.status == "running" for job in members),
        )
        for labels, members in sorted(by_labels.items())
    )
    named = next((job for job in jobs if job.account), None)
    return PoolUsage(
        entity_id=pool.entity_id,
        entity_type=named.entity_type if named else "",
        account=named.account if named else "",
        pool=pool.pool,
        label_sets=label_sets,
        workers=workers,
        pending=sum(label_set.pending for label_set in label_sets),
        running=sum(label_set.running for label_set in label_sets),
    )


def _longest_waiting_first(job: JobRow) -> tuple[int, float]:
    # Pending before running: the question this page answers is "why is my job still queued?".
    if job.status == "pending":
        return (0, job.created_at or 0.0)
    return (1, job.started_at or job.created_at or 0.0)


def _delivery_row(entry: dict[str, str]) -> DeliveryRow:
    outcome, reason = entry.get("outcome", ""), entry.get("reason", "")
    return DeliveryRow(
        stream_id=entry.get("id", ""),
        at=epoch(entry.get("at", "")),
        delivery=entry.get("delivery", ""),
        event=entry.get("event", ""),
        action=entry.get("action", ""),
        job_id=entry.get("job_id", ""),
        outcome=outcome if outcome in OUTCOMES else "unknown",
        reason=reason,
        why=WHY.get(Reason(reason), "") if reason in REASONS else reason.replace("_", " "),
        http_status=entry.get("http_status", ""),
    )
