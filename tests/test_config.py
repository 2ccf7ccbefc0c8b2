"""The per-process cache of mappings and account flags, and how a change reaches it."""
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.db import OperationalError

from harness.factories import AccountFactory, LabelMappingFactory, WorkflowJobPayloadFactory
from webhooks import config, store
from webhooks.models import Account, LabelMapping

pytestmark = pytest.mark.django_db


def changed_by_another_process() -> None:
    """What a save in another worker or replica leaves behind here: new rows and a new version,
    while this process's cache still holds the old ones."""
    store.bump_config_version()


def test_the_cache_holds_the_flags_of_staging_and_blocked_accounts_only() -> None:
    staging = AccountFactory(staging=True)
    blocked = AccountFactory(blocked=True)
    both = AccountFactory(staging=True, blocked=True)
    AccountFactory()

    snapshot = config.current()

    assert snapshot.staging == {staging.github_id, both.github_id}
    assert snapshot.blocked == {blocked.github_id, both.github_id}


def test_the_cache_remembers_the_version_it_was_loaded_at() -> None:
    store.bump_config_version()
    store.bump_config_version()

    assert config.current().version == store.config_version() != "0"


def test_a_warm_cache_costs_no_database_query_per_delivery(
    deliver: Callable[..., Any], django_assert_num_queries: Any
) -> None:
    AccountFactory(staging=True)
    blocked = AccountFactory(blocked=True)
    deliver(WorkflowJobPayloadFactory())

    with django_assert_num_queries(0):
        stored = deliver(WorkflowJobPayloadFactory())
        ignored = deliver(WorkflowJobPayloadFactory(repository__owner__id=blocked.github_id))

    assert stored.content.decode().startswith("stored:")
    assert ignored.content.decode() == "ignored: the account is blocked"


@pytest.mark.parametrize(
    "change",
    [
        lambda: AccountFactory(blocked=True),
        lambda: AccountFactory(staging=True).delete(),
        lambda: LabelMappingFactory(),
        lambda: LabelMapping.objects.first().delete(),
    ],
    ids=["account saved", "account deleted", "mapping saved", "mapping deleted"],
)
def test_a_saved_or_deleted_row_drops_the_cache_and_moves_the_version_on_commit(
    change: Callable[[], Any], django_capture_on_commit_callbacks: Any
) -> None:
    cached = config.current()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change()
        assert store.config_version() == cached.version  # not before the commit

    assert callbacks
    assert config.current() is not cached
    assert store.config_version() != cached.version


def test_a_mapping_changed_in_another_process_serves_the_next_delivery(
    deliver: Callable[..., Any], redis_client: redis.Redis
) -> None:
    deliver(WorkflowJobPayloadFactory())
    LabelMapping.objects.filter(label="ubuntu-24.04-riscv").update(pool="moved-board")
    changed_by_another_process()

    payload = WorkflowJobPayloadFactory()
    response = deliver(payload)

    assert response.content.decode().endswith("in pool moved-board")
    job = redis_client.hgetall(store.keys().job(payload["workflow_job"]["id"]))
    assert job["k8s_pool"] == "moved-board"


def test_an_account_blocked_in_another_process_is_ignored_from_the_next_delivery(
    deliver: Callable[..., Any],
) -> None:
    account = AccountFactory()
    deliver(WorkflowJobPayloadFactory(repository__owner__id=account.github_id))
    Account.objects.filter(pk=account.pk).update(blocked=True)
    changed_by_another_process()

    response = deliver(WorkflowJobPayloadFactory(repository__owner__id=account.github_id))

    assert response.content.decode() == "ignored: the account is blocked"


def test_an_account_unblocked_in_another_process_is_served_from_the_next_delivery(
    deliver: Callable[..., Any],
) -> None:
    account = AccountFactory(blocked=True)
    deliver(WorkflowJobPayloadFactory(repository__owner__id=account.github_id))
    Account.objects.filter(pk=account.pk).update(blocked=False)
    changed_by_another_process()

    response = deliver(WorkflowJobPayloadFactory(repository__owner__id=account.github_id))

    assert response.content.decode().startswith("stored:")


def test_a_stale_cache_is_kept_only_for_the_maximum_age(settings: Any, monkeypatch: Any) -> None:
    settings.MAPPING_CACHE_SECONDS = 60
    first = config.current()
    monkeypatch.setattr(config.time, "monotonic", lambda: first.loaded_at + 59)
    assert config.current() is first

    monkeypatch.setattr(config.time, "monotonic", lambda: first.loaded_at + 61)
    assert config.current() is not first


def test_a_config_that_keeps_changing_fails_the_delivery(
    deliver: Callable[..., Any], monkeypatch: Any, redis_client: redis.Redis
) -> None:
    # Every reload is already stale when the script runs: the delivery must be redelivered.
    real_reload = config.reload

    def reload_then_change() -> config.Snapshot:
        snapshot = real_reload()
        store.bump_config_version()
        return snapshot

    monkeypatch.setattr(config, "reload", reload_then_change)
    payload = WorkflowJobPayloadFactory()

    response = deliver(payload)

    assert response.status_code == 503
    assert not redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


def test_a_database_outage_on_first_load_fails_the_delivery_with_503(
    deliver: Callable[..., Any], monkeypatch: Any
) -> None:
    def down(*args: Any) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(config, "compile_rules", down)
    response = deliver(WorkflowJobPayloadFactory())
    assert response.status_code == 503


def test_an_old_snapshot_outlives_a_database_outage_while_the_version_holds(
    deliver: Callable[..., Any], monkeypatch: Any, settings: Any, redis_client: Any
) -> None:
    config.current()
    settings.MAPPING_CACHE_SECONDS = 0  # every delivery would reload

    def down(*args: Any) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(config, "compile_rules", down)
    payload = WorkflowJobPayloadFactory()
    assert deliver(payload).content.decode().startswith("stored:")
    changed_by_another_process()  # now the old snapshot is refused, and cannot be replaced
    assert deliver(WorkflowJobPayloadFactory()).status_code == 503
