"""/metrics: the delivery counters and each pool's demand and supply, read from Redis when
Prometheus scrapes, so every web process and replica reports the same numbers.

No series names a repository: pools are labelled by entity id and node pool only.
"""
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from webhooks import store
from webhooks.outcomes import Outcome, Reason

OUTCOMES = frozenset(outcome.value for outcome in Outcome)
REASONS = frozenset(reason.value for reason in Reason)
TOTALS = ("runnerhub_pending_jobs", "runnerhub_running_jobs", "runnerhub_workers")
TOTALS_HELP = (
    "Jobs queued and not yet started, in every pool.",
    "Jobs started and not yet completed, in every pool.",
    "Runner pods the scheduler reports, in every pool.",
)


class RunnerHubCollector(Collector):
    """Reads the counters hash and the pools at scrape time; raises store.StoreUnavailable
    when Redis fails, which fails the scrape rather than reporting zeros."""

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "runnerhub_deliveries",
            "Webhook deliveries by outcome and reason (reason is empty when there is none).",
            labels=["outcome", "reason"],
        )
        for counter, value in sorted(store.read_delivery_counters().items()):
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
        pools = store.read_pools()
        statuses = store.read_jobs(
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


registry = CollectorRegistry(auto_describe=False)
registry.register(RunnerHubCollector())


def exposition() -> bytes:
    """The Prometheus text exposition of the registry. Raises store.StoreUnavailable."""
    return generate_latest(registry)
