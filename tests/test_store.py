"""webhooks.store beyond one delivery: expiry of lost jobs, pruning, versions, scripts, and
waiting for replicas before a delivery is acknowledged."""
import logging
import os
import signal
from collections.abc import Iterator

import pytest
import redis
from django.core.management import call_command

from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.redis_server import RedisServer
from webhooks import lifecycle, store
from webhooks.outcomes import Delivery

pytestmark = pytest.mark.django_db


def handle(payload: dict) -> None:
    lifecycle.handle_delivery(Delivery("d", "workflow_job", payload["action"]), payload)


def test_pending_and_running_jobs_expire_after_the_active_lifetime(
    redis_client: redis.Redis, settings
) -> None:
    payload = WorkflowJobPayloadFactory()
    key = f"prod:job:{payload['workflow_job']['id']}"
    handle(payload)
    assert 6 * 86400 < redis_client.ttl(key) <= settings.ACTIVE_JOB_DAYS * 86400
    redis_client.expire(key, 100)
    handle(same_job(payload, "in_progress"))  # news of the job renews its lifetime
    assert redis_client.ttl(key) > 6 * 86400
    handle(same_job(payload, "completed"))
    assert redis_client.ttl(key) <= settings.HISTORY_RETENTION_DAYS * 86400


def test_prune_demand_drops_only_jobs_whose_hash_expired(redis_client: redis.Redis, capsys) -> None:
    lost, alive = WorkflowJobPayloadFactory(), WorkflowJobPayloadFactory()
    handle(lost)
    handle(same_job(alive, "in_progress"))
    redis_client.delete(f"prod:job:{lost['workflow_job']['id']}")  # as its expiry would
    owner = lost["repository"]["owner"]["id"]

    call_command("prune_demand")

    assert redis_client.smembers(f"prod:pool:{owner}:scw-em-rv1:jobs") == set()
    alive_owner = alive["repository"]["owner"]["id"]
    assert redis_client.smembers(f"prod:pool:{alive_owner}:scw-em-rv1:jobs") == {
        str(alive["workflow_job"]["id"])
    }
    assert capsys.readouterr().out.splitlines() == [
        f"{owner}:scw-em-rv1: removed 1",
        "pruned 1 stale jobs from 1 pools, 1 idle pools, 1 orphan history entries",
    ]


def test_a_pending_job_that_expired_and_then_completed_leaves_its_pool_set(
    redis_client: redis.Redis,
) -> None:
    payload = WorkflowJobPayloadFactory()
    job_id, owner = payload["workflow_job"]["id"], payload["repository"]["owner"]["id"]
    pool = f"prod:pool:{owner}:scw-em-rv1:jobs"
    handle(payload)
    redis_client.delete(f"prod:job:{job_id}")  # ACTIVE_JOB_DAYS without news
    assert redis_client.smembers(pool) == {str(job_id)}

    handle(same_job(payload, "completed", conclusion="success"))

    assert redis_client.hget(f"prod:job:{job_id}", "status") == "completed"
    assert redis_client.smembers(pool) == set()


def test_prune_demand_drops_completed_jobs_left_in_a_pool_set(redis_client: redis.Redis) -> None:
    # What the delivery script left behind before it removed them itself.
    payload = WorkflowJobPayloadFactory()
    job_id, owner = payload["workflow_job"]["id"], payload["repository"]["owner"]["id"]
    handle(payload)
    redis_client.hset(f"prod:job:{job_id}", "status", "completed")

    assert store.prune_demand().jobs == {f"{owner}:scw-em-rv1": 1}
    assert not redis_client.exists(f"prod:pool:{owner}:scw-em-rv1:jobs")


def test_prune_demand_drops_idle_pools_and_keeps_those_with_jobs_or_workers(
    redis_client: redis.Redis,
) -> None:
    idle, busy, supplied = (WorkflowJobPayloadFactory() for _ in range(3))
    for payload in (idle, busy, supplied):
        handle(payload)
    for payload in (idle, supplied):
        handle(same_job(payload, "completed", conclusion="success"))
    owner = {name: p["repository"]["owner"]["id"] for name, p in
             (("idle", idle), ("busy", busy), ("supplied", supplied))}  # fmt: skip
    # The scheduler's supply: a pool with a worker is not idle, even with no job.
    redis_client.sadd(f"prod:pool:{owner['supplied']}:scw-em-rv1:workers", "runner-1")

    pruned = store.prune_demand()

    assert pruned.pools == [f"{owner['idle']}:scw-em-rv1"]
    assert redis_client.smembers("prod:pools") == {
        f"{owner['busy']}:scw-em-rv1", f"{owner['supplied']}:scw-em-rv1"
    }
    # A new job brings its pool back.
    handle(WorkflowJobPayloadFactory(repository__owner__id=owner["idle"]))
    assert f"{owner['idle']}:scw-em-rv1" in redis_client.smembers("prod:pools")


def test_prune_demand_drops_history_entries_whose_job_expired(
    redis_client: redis.Redis, monkeypatch
) -> None:
    monkeypatch.setattr(store, "PRUNE_HISTORY_CHUNK", 7)  # several chunks, removals in each
    payloads = [WorkflowJobPayloadFactory() for _ in range(30)]
    for payload in payloads:
        handle(payload)
    expired = [p["workflow_job"]["id"] for p in payloads[::3]]
    for job_id in expired:
        redis_client.delete(f"prod:job:{job_id}")

    assert store.prune_demand().history == len(expired)

    kept = {str(p["workflow_job"]["id"]) for p in payloads} - {str(j) for j in expired}
    assert set(redis_client.zrange("prod:history", 0, -1)) == kept


def test_a_new_version_never_repeats_one_lost_with_a_redis_restart(redis_client) -> None:
    store.bump_config_version()
    held = store.config_version()  # what a process still caches
    redis_client.flushall()  # Redis came back empty
    store.bump_config_version()
    assert store.config_version() not in (held, "0")


def test_a_changed_setting_reaches_the_next_delivery(redis_client: redis.Redis, settings) -> None:
    """The delivery path reads a per-process copy of its settings, made again on a change."""
    handle(WorkflowJobPayloadFactory())
    settings.RUNNERHUB_ENV = "staging"
    payload = WorkflowJobPayloadFactory()
    handle(payload)
    assert redis_client.hget(f"staging:job:{payload['workflow_job']['id']}", "status") == "pending"
    assert redis_client.exists("staging:deliveries")


# Replicas: with REDIS_MIN_REPLICAS_ACK, a 2xx only once that many replicas hold the delivery.

UNAVAILABLE = b"redis unavailable, redeliver later"


@pytest.fixture
def replica(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A replica of the suite's Redis, in sync."""
    server = RedisServer(replicaof=redis_server.port).start()
    server.wait_until_replicating()
    yield server
    server.cleanup()


@pytest.fixture
def acknowledged_by_one(settings) -> None:
    settings.REDIS_MIN_REPLICAS_ACK = 1
    settings.REDIS_REPLICA_ACK_TIMEOUT_MS = 200


def test_a_delivery_a_replica_holds_is_answered_200(
    acknowledged_by_one: None, replica: RedisServer, deliver, redis_client: redis.Redis
) -> None:
    payload = WorkflowJobPayloadFactory()
    redis_client.script_flush()  # as on a promoted replica: the script cache is not replicated

    response = deliver(payload)

    job_id = payload["workflow_job"]["id"]
    assert (response.status_code, response.content.decode()) == (
        200, f"stored: job {job_id} pending in pool scw-em-rv1"
    )  # fmt: skip
    assert replica.client().hget(f"prod:job:{job_id}", "status") == "pending"


def test_a_delivery_no_replica_acknowledged_in_time_is_answered_503(
    acknowledged_by_one: None, replica: RedisServer, deliver, redis_client: redis.Redis, caplog
) -> None:
    payload = WorkflowJobPayloadFactory()
    assert deliver(payload).status_code == 200
    assert replica.process is not None
    os.kill(replica.process.pid, signal.SIGSTOP)  # connected, but acknowledges nothing
    try:
        with caplog.at_level(logging.ERROR, logger="webhooks.store"):
            response = deliver(same_job(payload, "completed"))
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)

    assert (response.status_code, response.content) == (503, UNAVAILABLE)
    assert "redis.unreplicated replicas=0 wanted=1" in caplog.messages
    # Written on the primary, where a redelivery finds it: a duplicate, answered 200.
    job_key = f"prod:job:{payload['workflow_job']['id']}"
    assert redis_client.hget(job_key, "status") == "completed"
    again = deliver(same_job(payload, "completed"))
    assert (again.status_code, again.content.decode().split(":")[0]) == (200, "duplicate")
    assert replica.client().hget(job_key, "status") == "completed"


def test_without_replicas_required_a_delivery_is_not_held_up_by_a_stopped_one(
    replica: RedisServer, deliver
) -> None:
    assert replica.process is not None
    os.kill(replica.process.pid, signal.SIGSTOP)
    try:
        response = deliver(WorkflowJobPayloadFactory())
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)

    assert response.status_code == 200
