"""Deliveries of blocked accounts: answered, ignored, and said so in the log and counters."""
from collections.abc import Callable
from typing import Any

import pytest
import redis

from harness.factories import AccountFactory, WorkflowJobPayloadFactory, same_job
from webhooks import store

pytestmark = pytest.mark.django_db


def last_delivery(redis_client: redis.Redis) -> dict[str, str]:
    [(_, entry)] = redis_client.xrevrange(store.keys().deliveries, count=1)
    return entry


@pytest.mark.parametrize("action", ["queued", "in_progress", "completed"])
def test_a_blocked_accounts_new_job_is_ignored_and_logged_as_blocked(
    deliver: Callable[..., Any], redis_client: redis.Redis, action: str
) -> None:
    account = AccountFactory(blocked=True)
    payload = WorkflowJobPayloadFactory(action=action, repository__owner__id=account.github_id)

    response = deliver(payload)

    job_id = payload["workflow_job"]["id"]
    assert response.status_code == 200
    assert response.content.decode() == "ignored: the account is blocked"
    k = store.keys()
    assert not redis_client.exists(k.job(job_id), k.pools, k.history, k.events)
    entry = last_delivery(redis_client)
    assert (entry["outcome"], entry["reason"], entry["http_status"]) == (
        "ignored", "blocked_account", "200",
    )  # fmt: skip
    assert (entry["job_id"], entry["action"]) == (str(job_id), action)
    assert redis_client.hgetall(k.stats) == {"ignored:blocked_account": "1"}


def test_a_blocked_user_account_is_recognised_by_its_owner_id(
    deliver: Callable[..., Any], redis_client: redis.Redis
) -> None:
    # Personal accounts get repository-scoped runners, but the block is on the owner.
    account = AccountFactory(blocked=True, type="User")
    payload = WorkflowJobPayloadFactory(
        repository__owner__id=account.github_id, repository__owner__type="User"
    )

    response = deliver(payload)

    assert response.content.decode() == "ignored: the account is blocked"


def test_a_job_recorded_before_the_block_still_completes_so_its_demand_drains(
    deliver: Callable[..., Any], redis_client: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    account = AccountFactory()
    queued = WorkflowJobPayloadFactory(repository__owner__id=account.github_id)
    deliver(queued)
    with django_capture_on_commit_callbacks(execute=True):
        account.blocked = True
        account.save()

    running = deliver(same_job(queued, "in_progress"))
    completed = deliver(same_job(queued, "completed", conclusion="success"))

    job_id = queued["workflow_job"]["id"]
    assert running.content.decode() == f"updated: job {job_id} pending -> running"
    assert completed.content.decode() == f"updated: job {job_id} running -> completed"
    assert redis_client.smembers(store.keys().pool_jobs(account.github_id, "scw-em-rv1")) == set()


def test_an_account_row_without_flags_is_served_as_usual(
    deliver: Callable[..., Any], redis_client: redis.Redis
) -> None:
    account = AccountFactory(max_workers=2, note="a maintainer's note")
    payload = WorkflowJobPayloadFactory(repository__owner__id=account.github_id)

    response = deliver(payload)

    assert response.content.decode().startswith("stored:")
    assert redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


def test_a_block_does_not_hold_back_other_accounts(deliver: Callable[..., Any]) -> None:
    AccountFactory(blocked=True)

    response = deliver(WorkflowJobPayloadFactory())

    assert response.content.decode().startswith("stored:")


def test_a_blocked_accounts_other_events_are_answered_as_usual(deliver: Callable[..., Any]) -> None:
    account = AccountFactory(blocked=True)
    payload = {
        "zen": "Keep it logically awesome.",
        "repository": {"owner": {"id": account.github_id}},
    }

    response = deliver(payload, event="ping")

    assert (response.status_code, response.content.decode()) == (200, "pong")
