"""webhooks.store beyond one delivery: expiry of lost jobs, pruning, versions, scripts."""
import threading

import pytest
import redis
from django.core.management import call_command

from tests.factories import WorkflowJobPayloadFactory, same_job
from webhooks import config, lifecycle, proxy, store

pytestmark = pytest.mark.django_db


def handle(payload: dict) -> None:
    lifecycle.handle_delivery("d", "workflow_job", payload, proxy.RawDelivery(b"", {}))


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
        "pruned 1 stale jobs from 1 pools",
    ]


def test_a_new_version_never_repeats_one_lost_with_a_redis_restart(redis_client) -> None:
    store.bump_config_version()
    held = store.config_version()  # what a process still caches
    redis_client.flushall()  # Redis came back empty
    store.bump_config_version()
    assert store.config_version() not in (held, "0")


def test_the_delivery_script_is_registered_once_for_every_thread() -> None:
    config.current()  # the threads find the mappings cached
    store._script.cache_clear()
    threads = [
        threading.Thread(target=handle, args=(WorkflowJobPayloadFactory(),)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store._script.cache_info().currsize == 1
