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
        for pool in pools:
            mine = statuses[position : position + len(pool.job_ids)]
            position += len(pool.job_ids)
            values = [pool.entity_id, pool.pool]
            pending.add_metric(values, sum(1 for job in mine if job and job["status"] == "pending"))
            running.add_metric(values, sum(1 for job in mine if job and job["status"] == "running"))
            workers.add_metric(values, len(pool.workers))
        yield pending
        yield running
        yield workers


registry = CollectorRegistry(auto_describe=False)
registry.register(RunnerHubCollector())


def exposition() -> bytes:
    """The Prometheus text exposition of the registry. Raises store.StoreUnavailable."""
    return generate_latest(registry)
