"""The job state machine, driven the way GitHub drives it: at least once, in any order."""
import itertools
import time

import pytest
import redis

from harness.factories import LabelMappingFactory, WorkflowJobPayloadFactory, same_job
from webhooks import config, lifecycle, store
from webhooks.models import LabelMapping
from webhooks.outcomes import Delivery, Outcome, Reason

pytestmark = pytest.mark.django_db

ACTIONS = ("queued", "in_progress", "completed")


def handle(payload: dict, event: str = "workflow_job") -> lifecycle.Result:
    delivery = Delivery("delivery-1", event, str(payload.get("action") or ""))
    return lifecycle.handle_delivery(delivery, payload)


def deliveries_for(payload: dict, actions: tuple[str, ...]) -> list[dict]:
    return [same_job(payload, action, conclusion="success" if action == "completed" else None)
            for action in actions]


def job_state(redis_client: redis.Redis, payload: dict) -> tuple:
    job_id = str(payload["workflow_job"]["id"])
    owner = payload["repository"]["owner"]["id"]
    return (
        redis_client.hget(f"prod:job:{job_id}", "status"),
        redis_client.sismember(f"prod:pool:{owner}:scw-em-rv1:jobs", job_id),
        redis_client.zscore("prod:history", job_id) is not None,
        redis_client.ttl(f"prod:job:{job_id}") > 0,
    )


def orders() -> list[tuple[str, ...]]:
    """Every order of queued, in_progress and completed, each delivered once or twice."""
    found = set()
    for counts in itertools.product((1, 2), repeat=3):
        sequence = [a for a, n in zip(ACTIONS, counts, strict=True) for _ in range(n)]
        found.update(itertools.permutations(sequence))
    return sorted(found)


def test_the_orders_cover_every_permutation_with_repeats() -> None:
    # 3! + 3 * 4!/2! + 3 * 5!/(2!2!) + 6!/(2!2!2!)
    assert len(orders()) == 6 + 36 + 90 + 90


@pytest.mark.parametrize("order", orders(), ids="-".join)
def test_every_order_ends_completed_out_of_demand_and_in_history(
    redis_client: redis.Redis, order: tuple[str, ...]
) -> None:
    payload = WorkflowJobPayloadFactory()
    for delivery in deliveries_for(payload, order):
        assert handle(delivery).outcome in (Outcome.STORED, Outcome.UPDATED, Outcome.DUPLICATE)
    assert job_state(redis_client, payload) == ("completed", False, True, True)
    assert redis_client.hget(f"prod:job:{payload['workflow_job']['id']}", "conclusion") == "success"


def orders_stopping_at_in_progress() -> list[tuple[str, ...]]:
    found = set()
    for queued, started in itertools.product((0, 1, 2), (1, 2)):
        found.update(itertools.permutations(["queued"] * queued + ["in_progress"] * started))
    return sorted(found)


@pytest.mark.parametrize("order", orders_stopping_at_in_progress(), ids="-".join)
def test_a_job_that_stops_at_in_progress_is_demand_exactly_once(
    redis_client: redis.Redis, order: tuple[str, ...]
) -> None:
    payload = WorkflowJobPayloadFactory()
    for delivery in deliveries_for(payload, order):
        handle(delivery)
    owner = payload["repository"]["owner"]["id"]
    assert redis_client.smembers(f"prod:pool:{owner}:scw-em-rv1:jobs") == {
        str(payload["workflow_job"]["id"])
    }
    assert redis_client.hget(f"prod:job:{payload['workflow_job']['id']}", "status") == "running"
    assert redis_client.zcard("prod:history") == 1


def test_a_late_queued_never_resets_a_running_job(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    handle(same_job(payload, "in_progress"))
    result = handle(payload)
    assert (result.outcome, result.reason, result.previous) == (
        Outcome.DUPLICATE, Reason.OUT_OF_ORDER, "running",
    )  # fmt: skip
    assert job_state(redis_client, payload)[:2] == ("running", True)


def test_a_completed_before_its_queued_leaves_no_demand(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    assert handle(same_job(payload, "completed", conclusion="cancelled")).outcome == Outcome.STORED
    assert handle(payload).outcome == Outcome.DUPLICATE
    assert handle(same_job(payload, "in_progress")).outcome == Outcome.DUPLICATE
    assert job_state(redis_client, payload) == ("completed", False, True, True)


def test_a_job_keeps_its_pool_when_its_mapping_changes_mid_job(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    handle(payload)
    LabelMapping.objects.filter(label="ubuntu-24.04-riscv").update(pool="moved-pool")
    config.invalidate()
    assert handle(same_job(payload, "completed")).outcome == Outcome.UPDATED
    owner = payload["repository"]["owner"]["id"]
    assert redis_client.scard(f"prod:pool:{owner}:scw-em-rv1:jobs") == 0
    assert redis_client.keys("prod:pool:*moved-pool*") == []


def test_a_job_whose_mapping_was_deleted_mid_job_still_leaves_demand(
    redis_client: redis.Redis,
) -> None:
    payload = WorkflowJobPayloadFactory()
    handle(payload)
    LabelMapping.objects.filter(label="ubuntu-24.04-riscv").delete()
    assert handle(same_job(payload, "in_progress")).outcome == Outcome.UPDATED
    assert handle(same_job(payload, "completed")).outcome == Outcome.UPDATED
    assert job_state(redis_client, payload) == ("completed", False, True, True)


def test_a_stale_cache_is_reloaded_inside_the_delivery(redis_client: redis.Redis) -> None:
    config.current()  # this process caches the mappings at version 0
    # Another process changes a mapping: the rows and the version move, our cache does not.
    LabelMapping.objects.filter(label="ubuntu-24.04-riscv").update(pool="new-pool")
    redis_client.incr("prod:config:version")
    payload = WorkflowJobPayloadFactory()
    assert handle(payload).pool == "new-pool"
    assert config.current().version == "1"


def test_a_stale_version_writes_nothing(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    redis_client.set("prod:config:version", "7")
    event = lifecycle.parse_workflow_job(payload)
    with pytest.raises(store.StaleConfig):
        store.apply_job_event(event, None, "6", lifecycle.Delivery("d", "workflow_job"))
    assert redis_client.keys("prod:*") == ["prod:config:version"]


def test_saving_a_mapping_bumps_the_version_after_commit(
    redis_client: redis.Redis, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        LabelMappingFactory()
    first = redis_client.get("prod:config:version")
    assert first is not None
    with django_capture_on_commit_callbacks(execute=True):
        LabelMapping.objects.get(label="ubuntu-24.04-riscv").delete()
    assert redis_client.get("prod:config:version") not in (None, first)


def test_the_events_stream_has_one_entry_per_transition(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    for delivery in deliveries_for(payload, ("queued", "queued", "in_progress", "completed", "queued")):
        handle(delivery)
    entries = [fields for _, fields in redis_client.xrange("prod:events")]
    assert [(e["previous"], e["status"]) for e in entries] == [
        ("", "pending"), ("pending", "running"), ("running", "completed"),
    ]  # fmt: skip
    assert {e["k8s_pool"] for e in entries} == {"scw-em-rv1"}
    assert {e["labels"] for e in entries} == {'["ubuntu-24.04-riscv"]'}


def test_history_entries_older_than_the_retention_are_trimmed(
    redis_client: redis.Redis, settings
) -> None:
    settings.HISTORY_RETENTION_DAYS = 1
    redis_client.zadd("prod:history", {"1": time.time() - 2 * 86400, "2": time.time() - 3600})
    payload = WorkflowJobPayloadFactory()
    handle(payload)
    handle(same_job(payload, "completed"))
    assert redis_client.zrange("prod:history", 0, -1) == ["2", str(payload["workflow_job"]["id"])]
    assert 0 < redis_client.ttl(f"prod:job:{payload['workflow_job']['id']}") <= 86400


def test_every_delivery_is_logged_and_counted(redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    handle(payload)
    handle(WorkflowJobPayloadFactory(workflow_job__labels=["windows-latest"]))
    handle({"zen": "Keep it logically awesome."}, event="ping")
    entries = [fields for _, fields in redis_client.xrange("prod:deliveries")]
    assert [(e["event"], e["outcome"], e["reason"]) for e in entries] == [
        ("workflow_job", "stored", ""),
        ("workflow_job", "ignored", "no_label_match"),
        ("ping", "pong", ""),
    ]
    assert redis_client.hgetall("prod:stats") == {
        "stored": "1", "ignored:no_label_match": "1", "pong": "1",
    }  # fmt: skip


def test_the_delivery_log_is_capped(redis_client: redis.Redis, settings) -> None:
    settings.DELIVERY_LOG_LENGTH = 100
    for _ in range(1000):
        handle({}, event="push")
    assert redis_client.xlen("prod:deliveries") < 300
