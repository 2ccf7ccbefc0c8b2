import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from harness.factories import WorkflowJobPayloadFactory, same_job
from tests.reports_support import KEYS

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_it_counts_deliveries_by_outcome_and_reason(client, deliver, redis_client):
    first, second = WorkflowJobPayloadFactory(), WorkflowJobPayloadFactory()
    for payload in (first, second, same_job(first, "in_progress"), first):
        assert deliver(payload).status_code == 200
    assert deliver(WorkflowJobPayloadFactory(workflow_job__labels=["macos-14"])).status_code == 200
    assert deliver(second, secret="wrong-secret").status_code == 401
    assert deliver(second, secret=None).status_code == 401
    assert deliver({"zen": "Keep it simple."}, event="ping").status_code == 200

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    counters = {
        labels: value
        for (name, labels), value in samples(response).items()
        if name == "runnerhub_deliveries_total"
    }
    assert counters == {
        (("outcome", "stored"), ("reason", "")): 2,
        (("outcome", "updated"), ("reason", "")): 1,
        (("outcome", "duplicate"), ("reason", "out_of_order")): 1,
        (("outcome", "ignored"), ("reason", "no_label_match")): 1,
        (("outcome", "rejected"), ("reason", "bad_signature")): 1,
        (("outcome", "rejected"), ("reason", "missing_signature")): 1,
        (("outcome", "pong"), ("reason", "")): 1,
    }
    assert sum(int(v) for v in redis_client.hgetall(KEYS.stats).values()) == 8


def test_it_reports_each_pools_pending_running_and_workers(client, deliver, redis_client):
    org = {"repository__owner__id": 77, "repository__owner__login": "riscv"}
    queued = [WorkflowJobPayloadFactory(**org) for _ in range(3)]
    for payload in queued:
        assert deliver(payload).status_code == 200
    assert deliver(same_job(queued[0], "in_progress")).status_code == 200
    assert deliver(same_job(queued[1], "completed", conclusion="cancelled")).status_code == 200
    assert (
        deliver(
            WorkflowJobPayloadFactory(workflow_job__labels=["ubuntu-24.04-riscv-rvv"], **org)
        ).status_code
        == 200
    )
    redis_client.sadd(KEYS.pool_workers(77, "scw-em-rv1"), "runner-1", "runner-2")

    values = samples(client.get("/metrics"))

    scw = (("entity_id", "77"), ("pool", "scw-em-rv1"))
    rvv = (("entity_id", "77"), ("pool", "cloudv10x-rvv"))
    assert values[("runnerhub_pool_pending_jobs", scw)] == 1
    assert values[("runnerhub_pool_running_jobs", scw)] == 1
    assert values[("runnerhub_pool_workers", scw)] == 2
    assert values[("runnerhub_pool_pending_jobs", rvv)] == 1
    assert values[("runnerhub_pool_running_jobs", rvv)] == 0
    assert values[("runnerhub_pool_workers", rvv)] == 0
    assert redis_client.scard(KEYS.pool_jobs(77, "scw-em-rv1")) == 2
    assert values[("runnerhub_pending_jobs", ())] == 2
    assert values[("runnerhub_running_jobs", ())] == 1
    assert values[("runnerhub_workers", ())] == 2


def test_it_reports_only_pools_with_jobs_or_workers(client, deliver, redis_client):
    done, supplied = WorkflowJobPayloadFactory(), WorkflowJobPayloadFactory()
    for payload in (done, supplied):
        assert deliver(payload).status_code == 200
        assert deliver(same_job(payload, "completed", conclusion="success")).status_code == 200
    supplied_owner = supplied["repository"]["owner"]["id"]
    redis_client.sadd(KEYS.pool_workers(supplied_owner, "scw-em-rv1"), "runner-1")
    assert redis_client.scard(KEYS.pools) == 2  # both pools were seen

    values = samples(client.get("/metrics"))

    pools = {labels for (name, labels) in values if name.startswith("runnerhub_pool_")}
    assert pools == {(("entity_id", str(supplied_owner)), ("pool", "scw-em-rv1"))}
    assert values[("runnerhub_pending_jobs", ())] == 0
    assert values[("runnerhub_workers", ())] == 1


def test_it_names_no_repository(client, deliver, redis_client):
    payload = WorkflowJobPayloadFactory(
        repository__full_name="acme/secret-rocket",
        repository__name="secret-rocket",
        repository__private=True,
    )
    assert deliver(payload).status_code == 200

    with override_settings(REPORTS_REQUIRE_LOGIN=True):  # the scraper does not sign in
        response = client.get("/metrics")

    assert response.status_code == 200
    assert b"secret-rocket" not in response.content and b"acme" not in response.content
    assert b"runnerhub_pool_pending_jobs{" in response.content
    assert (
        redis_client.hget(KEYS.job(payload["workflow_job"]["id"]), "repo") == "acme/secret-rocket"
    )


SCHEDULER_FAMILIES = {
    "runnerhub_workers_by_state",
    "runnerhub_runners_started",
    "runnerhub_runners_finished",
    "runnerhub_runners_failed",
    "runnerhub_orphans_deleted",
    "runnerhub_redeliveries",
    "runnerhub_reconcile_checked",
    "runnerhub_reconcile_applied",
    "runnerhub_workers_stopped",
    "runnerhub_github_calls",
    "runnerhub_github_errors",
    "runnerhub_queue_to_pod_seconds",
    "runnerhub_github_rate_limit_remaining",
    "runnerhub_github_rate_limit",
    "runnerhub_events_lag",
    "runnerhub_events_pending",
    "runnerhub_scheduler_leader",
}


def test_it_is_empty_but_valid_before_any_delivery(client, redis_client):
    response = client.get("/metrics")

    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert names == {
        "runnerhub_deliveries",
        "runnerhub_pool_pending_jobs",
        "runnerhub_pool_running_jobs",
        "runnerhub_pool_workers",
        "runnerhub_pending_jobs",
        "runnerhub_running_jobs",
        "runnerhub_workers",
        *SCHEDULER_FAMILIES,
    }
    figures = samples(response)
    totals = ("runnerhub_pending_jobs", "runnerhub_running_jobs", "runnerhub_workers")
    assert {key: value for key, value in figures.items() if key[0] in totals} == {
        ("runnerhub_pending_jobs", ()): 0,
        ("runnerhub_running_jobs", ()): 0,
        ("runnerhub_workers", ()): 0,
    }
    pool_families = ("runnerhub_deliveries", "runnerhub_pool_")
    assert not [key for key in figures if key[0].startswith(pool_families)]
    # The scheduler's figures are there from the start, at zero, so alerts can rely on them.
    assert set(figures.values()) == {0}
    assert redis_client.dbsize() == 0  # a scrape writes nothing


def test_it_fails_the_scrape_when_redis_is_down(client, redis_server):
    redis_server.stop()

    response = client.get("/metrics")

    assert response.status_code == 503
    assert response.content == b"redis unavailable\n"
