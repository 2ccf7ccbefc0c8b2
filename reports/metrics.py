"""/metrics: the delivery counters and each pool's demand and supply, read from Redis when
Prometheus scrapes, so every web process and replica reports the same numbers.

No series names a repository: pools are labelled by entity id and node pool only.
"""
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from runners import store as runner_store
from webhooks import reads
from webhooks.outcomes import OUTCOMES, REASONS

TOTALS = ("runnerhub_pending_jobs", "runnerhub_running_jobs", "runnerhub_workers")
TOTALS_HELP = (
    "Jobs queued and not yet started, in every pool.",
    "Jobs started and not yet completed, in every pool.",
    "Runner pods the scheduler reports, in every pool.",
)


class RunnerHubCollector(Collector):
    """Reads the counters hash and the pools at scrape time; raises reads.StoreUnavailable
    when Redis fails, which fails the scrape rather than reporting zeros."""

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "runnerhub_deliveries",
            "Webhook deliveries by outcome and reason (reason is empty when there is none).",
            labels=["outcome", "reason"],
        )
        for counter, value in sorted(reads.read_delivery_counters().items()):
            outcome, _, reason = counter.partition(":")
            # The counters are a small fixed set; anything else in the hash is not ours to export.
            if outcome in OUTCOMES and reason in REASONS:
                deliveries.add_metric([outcome, reason], value)
        yield deliveries

        labels = ["entity_id", "pool"]
        pending = GaugeMetricFamily(
            "runnerhub_pool_pending_jobs",
            "Jobs queued and not yet started, per pool.",
            labels=labels,
        )
        running = GaugeMetricFamily(
            "runnerhub_pool_running_jobs",
            "Jobs started and not yet completed, per pool.",
            labels=labels,
        )
        workers = GaugeMetricFamily(
            "runnerhub_pool_workers", "Runner pods the scheduler reports, per pool.", labels=labels
        )
        pools = reads.read_pools()
        statuses = reads.read_jobs(
            [job_id for pool in pools for job_id in pool.job_ids], fields=("status",)
        )
        position = 0
        totals = [0, 0, 0]
        for pool in pools:
            mine = statuses[position : position + len(pool.job_ids)]
            position += len(pool.job_ids)
            counts = [
                sum(1 for job in mine if job and job["status"] == "pending"),
                sum(1 for job in mine if job and job["status"] == "running"),
                len(pool.workers),
            ]
            totals = [total + count for total, count in zip(totals, counts)]
            # Only pools with jobs or workers: the pools set holds every pool ever seen, and a
            # series per idle pool (one per repository for personal accounts) only grows.
            if not any(counts):
                continue
            values = [pool.entity_id, pool.pool]
            for family, count in zip((pending, running, workers), counts):
                family.add_metric(values, count)
        yield pending
        yield running
        yield workers
        for name, help_text, total in zip(TOTALS, TOTALS_HELP, totals):
            yield GaugeMetricFamily(name, help_text, value=total)
        yield from scheduler_metrics()


def scheduler_metrics() -> Iterator[Metric]:
    """The scheduler's workers, counters, GitHub calls and rate limits, events lag and leader."""
    states = GaugeMetricFamily(
        "runnerhub_workers_by_state", "Live workers (runner pods) by state.", labels=["state"]
    )
    for state, count in sorted(runner_store.read_worker_states().items()):
        states.add_metric([state], count)
    yield states

    stats = runner_store.read_stats()
    for name, help_text in (
        ("runners_started", "Runners whose pod and secret were created."),
        ("runners_finished", "Runners taken down after their pod ended or they idled."),
        ("runners_failed", "Runners that failed: pod failed, never started, vanished, or "
                           "provisioning interrupted and rolled back."),
        ("orphans_deleted", "Pods, secrets and GitHub runners deleted that nothing tracked."),
        ("redeliveries", "Failed webhook deliveries the scheduler asked GitHub to redeliver."),
        ("reconcile_checked", "Jobs without news looked up on GitHub."),
        ("reconcile_applied", "Jobs moved forward on GitHub's own record of them."),
    ):  # fmt: skip
        yield CounterMetricFamily(f"runnerhub_{name}", help_text, value=stats.get(name, 0))
    stopped = CounterMetricFamily(
        "runnerhub_workers_stopped", "Workers finished, by why.", labels=["reason"]
    )
    calls = CounterMetricFamily(
        "runnerhub_github_calls", "Calls the scheduler made to GitHub, by kind.", labels=["kind"]
    )
    errors = CounterMetricFamily(
        "runnerhub_github_errors", "GitHub calls answered 4xx or 5xx, by kind.", labels=["kind"]
    )
    families = {"stopped": stopped, "github_calls": calls, "github_errors": errors}
    for name, value in sorted(stats.items()):
        family, _, label = name.partition(":")
        if label and family in families:
            families[family].add_metric([label], value)
    yield from families.values()

    latency = HistogramMetricFamily(
        "runnerhub_queue_to_pod_seconds",
        "Time from a job's queued delivery to its runner's pod being created.",
    )
    buckets = [
        (str(bound), stats.get(f"latency_bucket:{bound}", 0))
        for bound in runner_store.LATENCY_BUCKETS
    ]
    buckets.append(("+Inf", stats.get("latency_count", 0)))
    latency.add_metric([], buckets, sum_value=stats.get("latency_sum", 0))
    yield latency

    remaining = GaugeMetricFamily(
        "runnerhub_github_rate_limit_remaining",
        "GitHub API calls left in the current window, per installation ('app' for the JWT).",
        labels=["installation"],
    )
    limit = GaugeMetricFamily(
        "runnerhub_github_rate_limit", "GitHub API calls allowed per window.", labels=["installation"]
    )
    for installation, figures in sorted(runner_store.read_rate_limits().items()):
        remaining.add_metric([installation], figures.get("remaining", 0))
        limit.add_metric([installation], figures.get("limit", 0))
    yield remaining
    yield limit

    lag, unacknowledged = runner_store.events_lag()
    yield GaugeMetricFamily(
        "runnerhub_events_lag", "Events stream entries not yet read by the scheduler.", value=lag
    )
    yield GaugeMetricFamily(
        "runnerhub_events_pending",
        "Events read by the scheduler and not yet acknowledged.",
        value=unacknowledged,
    )
    state = runner_store.read_state()
    leader = GaugeMetricFamily(
        "runnerhub_scheduler_leader", "1 for the replica that leads now.", labels=["replica"]
    )
    holder = runner_store.lease_holder()
    if holder:
        leader.add_metric([holder.rsplit(" ", 1)[0]], 1)
    yield leader
    if "last_pass_at" in state:
        yield GaugeMetricFamily(
            "runnerhub_scheduler_last_pass_timestamp_seconds",
            "When the leading scheduler last completed a pass.",
            value=float(state["last_pass_at"]),
        )
        yield GaugeMetricFamily(
            "runnerhub_scheduler_pass_seconds",
            "How long the last pass took.",
            value=float(state.get("pass_seconds", 0)),
        )


registry = CollectorRegistry(auto_describe=False)
registry.register(RunnerHubCollector())


def exposition() -> bytes:
    """The Prometheus text exposition of the registry. Raises reads.StoreUnavailable."""
    return generate_latest(registry)
