"""Fixtures of the scheduler's tests: the fake GitHub and Kubernetes, a world that plays the
runners' part, and schedulers wired to them exactly as production is (URLs and credentials)."""
from collections.abc import Iterator
from typing import Any

import pytest

from harness.fake_github import FakeGitHub
from harness.fake_kubernetes import FakeKubernetes
from harness.runner_world import NAMESPACE, World
from harness.webhook_client import deliver_to
from runners.github import GitHubRunners
from runners.kube import Cluster
from runners.scheduler import PassReport, Scheduler


@pytest.fixture
def fake_kube() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as kube:
        yield kube


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as github:
        yield github
        assert not github.errors


@pytest.fixture
def scheduler_settings(settings, fake_github: FakeGitHub):
    settings.GITHUB_APP_ID = str(fake_github.app_id)
    settings.GITHUB_APP_PRIVATE_KEY = fake_github.private_key_pem
    settings.GITHUB_API_URL = fake_github.url
    settings.RUNNER_NAMESPACE = NAMESPACE
    settings.ORPHAN_SWEEP_SECONDS = 3600
    return settings


@pytest.fixture
def make_scheduler(scheduler_settings, fake_kube: FakeKubernetes):
    """A new replica of the scheduler, driving the real clients against the fakes."""

    def make(replica: str = "replica-a") -> Scheduler:
        return Scheduler(GitHubRunners(), Cluster(fake_kube.api_client()), replica=replica)

    return make


@pytest.fixture
def scheduler(make_scheduler) -> Scheduler:
    replica = make_scheduler()
    assert replica.lead()
    return replica


@pytest.fixture
def world(fake_kube: FakeKubernetes, fake_github: FakeGitHub, wsgi_application: Any, db) -> World:
    return World(fake_kube, fake_github, lambda payload: deliver_to(wsgi_application, payload).status_code)


def age(worker_name: str) -> None:
    """Make a worker look as if it had been in its state for ever (the scheduler's clock is the
    wall clock, so the record is aged instead)."""
    from runners import store

    store.client().hset(store.keys().worker(worker_name), "updated_at", "1")


def settle(scheduler: Scheduler, world: World, passes: int = 30, assign: bool = True) -> list[PassReport]:
    """Passes of the scheduler, with pods booting and (when `assign`) runners taking jobs in
    between, until a pass changes nothing."""
    reports = []
    for _ in range(passes):
        report = scheduler.run_pass()
        reports.append(report)
        booted = world.boot()
        taken = world.assign() if assign else []
        plan = report.plan
        quiet = not (report.started or report.stopped or report.rolled_back or booted or taken)
        if quiet and plan is not None and not (plan.links or plan.started or plan.adoptions):
            return reports
    raise AssertionError(f"the scheduler did not settle in {passes} passes")
