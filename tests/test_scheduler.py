"""The scheduler end to end: deliveries in, pods and GitHub registrations out, through the real
kubernetes client and githubkit against the fake servers."""
import json
from collections import Counter

import pytest

from harness.factories import AccountFactory
from harness.runner_world import NAMESPACE, World
from runners import store
from runners.decision import State
from runners.github import Target
from tests.scheduler_support import age, settle
from webhooks.keys import Keys
from webhooks.models import LabelMapping

pytestmark = pytest.mark.django_db
IMAGE_24 = "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest"


def live_workers():
    return store.read_workers()


def test_a_burst_of_60_jobs_over_three_accounts_gets_exactly_min_demand_cap_runners(
    scheduler, world: World
):
    capped5 = world.account("capped-five", 101)
    capped10 = world.account("capped-ten", 102)
    free = world.account("uncapped", 103)
    AccountFactory(github_id=101, login="capped-five", max_workers=5)
    AccountFactory(github_id=102, login="capped-ten", max_workers=10)
    for n in range(20):
        for account in (capped5, capped10, free):
            world.queue(account)

    settle(scheduler, world, assign=False)

    workers = live_workers()
    per_account = Counter(worker.owner_id for worker in workers)
    assert per_account == {"101": 5, "102": 10, "103": 20}
    pods = world.runner_pods()
    assert len(pods) == 35
    for pod in pods:
        spec = pod["spec"]
        assert spec["nodeSelector"] == {"riseproject.dev/board": "scw-em-rv1"}
        [container] = spec["containers"]
        assert container["image"] == IMAGE_24
        assert container["env"] == [
            {
                "name": "ACTIONS_RUNNER_INPUT_JITCONFIG",
                "valueFrom": {"secretKeyRef": {"name": pod["metadata"]["name"], "key": "jitconfig"}},
            }
        ]
        assert "args" not in container and "command" not in container
        assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
        assert spec["activeDeadlineSeconds"] > 0
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "runnerhub"
        assert labels["runnerhub/env"] == "prod" and labels["runnerhub/pool"] == "scw-em-rv1"
        secret = world.kube.secret(NAMESPACE, pod["metadata"]["name"])
        assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
        jit = world.jit_of(pod["metadata"]["name"])
        assert jit["runner_name"] == pod["metadata"]["name"]
        assert sorted(jit["labels"]) == ["ubuntu-24.04-riscv"]
    # One registration per worker, no more.
    assert sorted(r["name"] for r in world.github.runners()) == sorted(w.name for w in workers)
    assert world.github.count("POST", r".*/generate-jitconfig") == 35


def test_two_label_sets_in_one_pool_get_runners_of_their_own_label_set_only(scheduler, world):
    org = world.account("two-sets", 201)
    plain = [world.queue(org, ["ubuntu-24.04-riscv"]) for _ in range(2)]
    tolerated = [world.queue(org, ["ubuntu-24.04-riscv", "self-hosted"]) for _ in range(3)]
    assert not world.failed_deliveries

    settle(scheduler, world)

    assert all(job.status == "in_progress" for job in plain + tolerated)
    by_labels = Counter(tuple(sorted(world.jit_of(pod["metadata"]["name"])["labels"]))
                        for pod in world.runner_pods())  # fmt: skip
    assert by_labels == {("ubuntu-24.04-riscv",): 2, ("self-hosted", "ubuntu-24.04-riscv"): 3}
    for job in plain + tolerated:
        assert tuple(sorted(world.jit_of(job.runner)["labels"])) == job.labels
    linked = {worker.name: worker.job_id for worker in live_workers()}
    assert linked == {job.runner: str(job.job_id) for job in plain + tolerated}


@pytest.fixture(autouse=True)
def _self_hosted_is_tolerated(db):
    """Jobs may also ask for `self-hosted` with the default label: another label set."""
    mapping = LabelMapping.objects.get(label="ubuntu-24.04-riscv")
    mapping.extra_labels = ["self-hosted"]
    mapping.full_clean()
    mapping.save()


def test_completed_jobs_and_finished_pods_leave_nothing_behind(scheduler, world, redis_client):
    org = world.account("tidy", 301)
    jobs = [world.queue(org) for _ in range(4)]
    settle(scheduler, world)
    assert all(job.status == "in_progress" for job in jobs)

    world.complete()
    settle(scheduler, world)

    assert world.leftovers() == {"pods": [], "secrets": [], "runners": []}
    assert live_workers() == []
    keys = Keys("prod")
    assert redis_client.scard(keys.workers) == 0
    assert redis_client.scard(keys.pool_workers(301, "scw-em-rv1")) == 0
    assert redis_client.scard(keys.account_workers(301)) == 0
    assert redis_client.scard(keys.board_starting("scw-em-rv1")) == 0
    for job in jobs:
        record = redis_client.hgetall(keys.worker(job.runner))
        assert record["state"] == "finished" and record["reason"] == "completed"
        assert record["job_id"] == str(job.job_id)
        assert 0 < redis_client.ttl(keys.worker(job.runner)) <= 15 * 86400


def test_a_pod_stuck_pending_is_replaced_and_its_runner_deregistered(scheduler, world, settings):
    settings.RUNNER_START_TIMEOUT = 10
    org = world.account("stuck", 401)
    job = world.queue(org)
    scheduler.run_pass()
    [pod] = world.runner_pods()
    stuck = pod["metadata"]["name"]
    world.kube.set_waiting(NAMESPACE, stuck, "ImagePullBackOff", "pull access denied")
    age(stuck)

    report = scheduler.run_pass()

    assert report.stopped == [stuck] and report.failed == [stuck]
    [replacement] = report.started
    assert replacement != stuck
    assert [p["metadata"]["name"] for p in world.runner_pods()] == [replacement]
    assert world.github.runner_by_name(stuck) is None
    record = store.worker_field(stuck, "reason"), store.worker_field(stuck, "detail")
    assert record == ("start_timeout", "ImagePullBackOff")
    settle(scheduler, world)
    assert job.status == "in_progress" and job.runner == replacement


def test_an_idle_runner_is_reaped_unless_github_says_it_is_busy(scheduler, world, settings):
    settings.RUNNER_IDLE_TIMEOUT = 10
    org = world.account("idle", 501)
    first, second = world.queue(org), world.queue(org)
    scheduler.run_pass()
    world.boot()
    scheduler.run_pass()  # both running, neither has a job yet
    # GitHub cancels both jobs before they start: RunnerHub hears completed for each.
    for job in (first, second):
        job.status = "in_progress"
        job.runner = ""
    world.complete([first, second])
    names = sorted(worker.name for worker in live_workers())
    for name in names:
        age(name)
    busy, idle = names
    world.github.set_runner(busy, busy=True)  # it just took a job

    report = scheduler.run_pass()

    assert report.stopped == [idle] and report.kept == [busy]
    assert world.github.runner_by_name(idle) is None and world.kube.pod(NAMESPACE, idle) is None
    assert world.github.runner_by_name(busy) is not None
    assert {w.name: w.state for w in live_workers()} == {busy: State.RUNNING}


@pytest.mark.parametrize(
    ("status", "made"),
    [
        (409, True),  # the runner exists already: an earlier reply was lost
        (500, True),  # GitHub made the runner, and then the reply failed
        (502, True),
        (503, False),
        (422, False),  # refused: nothing was made
    ],
)
def test_a_failed_jit_call_is_rolled_back_and_retried_without_duplicates(
    scheduler, world, status, made
):
    org = world.account("flaky", 601)
    jobs = [world.queue(org) for _ in range(3)]
    world.github.fail("POST", r".*/generate-jitconfig", status, times=1, after=made)

    report = scheduler.run_pass()

    assert len(report.rolled_back) == 1 and len(report.started) == 2
    [lost] = report.rolled_back
    assert world.github.runner_by_name(lost) is None  # found by name and deleted
    settle(scheduler, world)
    assert all(job.status == "in_progress" for job in jobs)
    assert len(world.github.runners()) == 3 and len(world.runner_pods()) == 3
    assert len(live_workers()) == 3


def test_an_exhausted_rate_limit_pauses_the_installation_and_later_recovers(scheduler, world):
    org = world.account("limited", 701)
    jobs = [world.queue(org) for _ in range(2)]
    world.github.set_rate_limit(org.installation_id, remaining=0, reset_in=2)

    report = scheduler.run_pass()

    assert report.started == []
    assert world.runner_pods() == [] and world.github.runners() == []
    assert live_workers() == []  # the reservation was rolled back
    scheduler.paused.clear()  # the reset has passed
    world.github.set_rate_limit(org.installation_id, remaining=5000)
    settle(scheduler, world)
    assert all(job.status == "in_progress" for job in jobs)
    assert len(world.github.runners()) == 2


def test_a_kubernetes_failure_rolls_the_registration_back(scheduler, world):
    org = world.account("kube-flaky", 801)
    job = world.queue(org)
    world.kube.fail("POST", r".*/pods", 500)

    report = scheduler.run_pass()

    assert report.started == [] and len(report.rolled_back) == 1
    assert world.github.runners() == [] and world.kube.pods(NAMESPACE) == []
    settle(scheduler, world)
    assert job.status == "in_progress"


def test_orphan_pods_and_registrations_are_swept(scheduler, world, settings):
    org = world.account("orphans", 901)
    world.queue(org)
    settle(scheduler, world)
    [worker] = live_workers()
    # A pod and a registration that nothing tracks (left by a replica killed mid-step).
    stray_pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "runnerhub-prod-0000000000", "labels": {
            "app.kubernetes.io/managed-by": "runnerhub", "runnerhub/env": "prod"}},
        "spec": {"containers": [{"name": "runner", "image": IMAGE_24}]},
    }  # fmt: skip
    scheduler.cluster.core.create_namespaced_pod(NAMESPACE, stray_pod)
    target = Target.loads(store.worker_field(worker.name, "target"))
    scheduler.github.register(target, "runnerhub-prod-1111111111", ["ubuntu-24.04-riscv"])
    settings.ORPHAN_SWEEP_SECONDS = 10
    scheduler.last_sweep = 0

    report = scheduler.run_pass()

    assert sorted(report.orphans) == ["runnerhub-prod-0000000000", "runnerhub-prod-1111111111"]
    assert [p["metadata"]["name"] for p in world.runner_pods()] == [worker.name]
    assert [r["name"] for r in world.github.runners()] == [worker.name]


def test_a_personal_accounts_runners_register_on_its_repository(scheduler, world):
    user = world.account("solo-dev", 1001, kind="User", repositories=[(555, "solo-dev/project")])
    job = world.queue(user, repo_id=555)

    settle(scheduler, world)

    assert job.status == "in_progress"
    assert world.github.count("POST", r"/repos/solo-dev/project/actions/runners/generate-jitconfig") == 1
    [worker] = live_workers()
    assert worker.entity_id == "555" and worker.owner_id == "1001"
    assert json.loads(store.worker_field(worker.name, "target"))["kind"] == "repo"


def test_installation_tokens_are_reused_one_jit_call_per_runner(scheduler, world):
    org = world.account("thrifty", 1101)
    for _ in range(6):
        world.queue(org)

    settle(scheduler, world)

    assert world.github.count("POST", r"/app/installations/\d+/access_tokens") == 1
    assert world.github.count("POST", r".*/generate-jitconfig") == 6
    assert world.github.count("GET", r"/orgs/thrifty/actions/runner-groups") == 1


def test_a_rollback_github_will_never_allow_is_given_up_and_the_job_gets_a_new_runner(
    scheduler, world
):
    org = world.account("uninstalled", 1201)
    job = world.queue(org)
    world.github.fail("POST", r".*/generate-jitconfig", 502)  # maybe made: must be looked up
    world.github.fail("GET", r"/orgs/uninstalled/actions/runners", 404)  # and cannot be

    report = scheduler.run_pass()

    [abandoned] = report.rolled_back
    assert store.worker_field(abandoned, "reason") == "rollback_abandoned"
    assert store.worker_field(abandoned, "state") == "finished"
    settle(scheduler, world)
    assert job.status == "in_progress" and job.runner != abandoned


def test_a_pools_template_and_resources_reach_its_pods(scheduler, world):
    from runners.models import RunnerPool

    RunnerPool.objects.create(
        pool="scw-em-rv1", cpu_request="2", memory_limit="8Gi",
        pod_template="spec: {tolerations: [{key: riseproject.dev/board, operator: Exists}]}",
    )  # fmt: skip
    world.queue(world.account("templated", 1301))

    scheduler.run_pass()

    [pod] = world.runner_pods()  # the fake validated it against the pinned schema
    assert pod["spec"]["tolerations"] == [{"key": "riseproject.dev/board", "operator": "Exists"}]
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}
    }


def test_a_template_that_no_longer_parses_holds_up_only_its_own_pool(scheduler, world):
    from runners.models import RunnerPool

    # Saved before today's rules (the admin would refuse it now).
    RunnerPool.objects.bulk_create([RunnerPool(pool="scw-em-rv1", pod_template="spec: {hostPID: true}")])
    org = world.account("broken-template", 1401)
    world.queue(org, ["ubuntu-24.04-riscv"])
    world.queue(org, ["ubuntu-24.04-riscv-rvv"])

    report = scheduler.run_pass()

    assert report.skipped == {"broken_template": 1}
    [pod] = world.runner_pods()
    assert pod["spec"]["nodeSelector"] == {"riseproject.dev/board": "cloudv10x-rvv"}


def test_a_runner_that_took_a_job_is_kept_even_when_the_pod_phase_read_is_behind(scheduler, world, settings):
    settings.RUNNER_START_TIMEOUT = 10
    org = world.account("racing", 1501)
    job = world.queue(org)
    scheduler.run_pass()
    [pod] = world.runner_pods()
    name = pod["metadata"]["name"]
    age(name)  # Pending for long, it seems
    world.github.set_runner(name, status="online", busy=True)  # but it just started and took a job

    report = scheduler.run_pass()

    assert report.kept == [name] and report.stopped == []
    assert world.kube.pod(NAMESPACE, name) is not None
    [worker] = store.read_workers()
    assert worker.state == State.RUNNING
    assert not store.client().sismember(Keys("prod").board_starting("scw-em-rv1"), name)
    assert job.status == "queued"


def test_the_runner_containers_own_end_ends_the_pod_whatever_its_sidecars_do():
    from runners.kube import _pod

    item = {
        "metadata": {"name": "w", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "runner", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "sidecar", "state": {"running": {}}},
            ],
        },
    }
    pod = _pod(item)
    assert (pod.phase, pod.exit_code, pod.reason) == ("Succeeded", 0, "Completed")
    item["status"]["containerStatuses"][0]["state"]["terminated"] = {"exitCode": 1, "reason": "Error"}
    assert _pod(item).phase == "Failed"


def test_a_named_runner_group_is_created_once_when_missing_and_used(scheduler, world, settings):
    settings.RUNNER_GROUP = "riscv-boards"
    org = world.account("grouped", 1601)
    for _ in range(3):
        world.queue(org)

    scheduler.run_pass()

    assert world.github.count("POST", r"/orgs/grouped/actions/runner-groups") == 1
    [group_id] = {runner["runner_group_id"] for runner in world.github.runners()}
    assert group_id != 1  # not the Default group
    scheduler.run_pass()
    assert world.github.count("GET", r"/orgs/grouped/actions/runner-groups") == 1  # cached


def test_replicas_share_the_installation_token_through_redis(make_scheduler, world):
    org = world.account("shared-token", 1701)
    first = make_scheduler("replica-a")
    assert first.lead()
    world.queue(org)
    first.run_pass()
    first.resign()
    second = make_scheduler("replica-b")
    assert second.lead()
    world.queue(org)

    second.run_pass()

    assert len(world.runner_pods()) == 2
    assert world.github.count("POST", r"/app/installations/\d+/access_tokens") == 1


def test_metrics_count_the_github_calls_and_runners_of_a_pass(scheduler, world, client):
    from prometheus_client.parser import text_string_to_metric_families

    world.queue(world.account("counted", 1801))
    scheduler.run_pass()

    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").content.decode())}
    calls = {s.labels["kind"]: s.value for s in families["runnerhub_github_calls"].samples}
    assert calls["jit"] == 1 and calls["token"] == 1
    assert families["runnerhub_runners_started"].samples[0].value == 1
    states = {s.labels["state"]: s.value for s in families["runnerhub_workers_by_state"].samples}
    assert states["launched"] == 1
    [leader] = families["runnerhub_scheduler_leader"].samples
    assert leader.labels == {"replica": "replica-a"}
    [bucket_count] = [s.value for s in families["runnerhub_queue_to_pod_seconds"].samples
                      if s.name == "runnerhub_queue_to_pod_seconds_count"]  # fmt: skip
    assert bucket_count == 1


def test_run_scheduler_names_a_missing_setting_and_does_nothing(settings, redis_client):
    from django.core.management import CommandError, call_command

    settings.GITHUB_APP_ID = ""
    with pytest.raises(CommandError, match="GITHUB_APP_ID"):
        call_command("run_scheduler", "--once")
    assert redis_client.get(Keys("prod").scheduler_lease) is None


def test_run_scheduler_once_runs_one_pass_and_gives_the_lease_back(scheduler_settings, fake_kube, world, tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setenv("KUBECONFIG", str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")))
    world.queue(world.account("once", 1901))
    out = StringIO()

    call_command("run_scheduler", "--once", stdout=out)

    assert out.getvalue().startswith("started 1, stopped 0")
    assert len(world.runner_pods()) == 1
    assert store.lease_holder() == ""
