"""Two `run_scheduler` replicas side by side while the leader is SIGKILLed at each step of
provisioning in turn: the other takes over, and in the end every job has exactly one runner,
and nothing (pod, secret, registration, worker) is duplicated or leaked."""
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.runner_world import World
from harness.servers import SchedulerProcess
from runners import store

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ORG = r"/orgs/[^/]+"
PODS = r"/api/v1/namespaces/[^/]+/pods"
SECRETS = r"/api/v1/namespaces/[^/]+/secrets"
# (fake, method, path, after): killed once the request arrived and before it was performed,
# or (after) once it was performed and before its reply reached the scheduler.
STEPS = {
    "token": ("github", "POST", r"/app/installations/\d+/access_tokens", False),
    "runner_group": ("github", "GET", ORG + "/actions/runner-groups", False),
    "jit": ("github", "POST", ORG + "/actions/runners/generate-jitconfig", False),
    "jit_reply": ("github", "POST", ORG + "/actions/runners/generate-jitconfig", True),
    "pod": ("kube", "POST", PODS, False),
    "pod_reply": ("kube", "POST", PODS, True),
    "secret": ("kube", "POST", SECRETS, False),
    "secret_reply": ("kube", "POST", SECRETS, True),
}
JOBS = 3


@pytest.fixture
def replicas(fake_github, fake_kube, redis_server, tmp_path: Path):
    env = SchedulerProcess.environment(
        fake_github, fake_kube, redis_server.url, tmp_path, ORPHAN_SWEEP_SECONDS="10"
    )
    database = tmp_path / "scheduler.sqlite3"
    SchedulerProcess.migrate(env, database)
    processes = [SchedulerProcess(env, database) for _ in range(2)]
    yield processes
    fake_github.holds.release_all()
    fake_kube.holds.release_all()
    for process in processes:
        process.stop()


def leader_pid() -> int | None:
    holder = store.lease_holder()
    if not holder:
        return None
    replica = holder.rsplit(" ", 1)[0]
    return int(replica.rsplit("-", 2)[1])  # {host}-{pid}-{random}


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("step", list(STEPS))
def test_killing_the_leader_at_each_step_leaves_one_runner_per_job_and_nothing_leaked(
    step, replicas, world: World
):
    fake, method, path, after = STEPS[step]
    server = world.github if fake == "github" else world.kube
    hold = server.holds.add(method, path, after=after)
    org = world.account("crash-test", 4100)
    for process in replicas:
        process.start()
    jobs = [world.queue(org) for _ in range(JOBS)]

    assert hold.arrived.wait(30), "\n".join(p.output() for p in replicas)
    pid = wait_for(leader_pid, 10, "a leader")
    [leader] = [process for process in replicas if process.pid == pid]
    [standby] = [process for process in replicas if process is not leader]
    leader.kill()
    hold.release(perform=after)  # a request held before it was performed dies with its client

    # The standby takes over within one lease and provisions every job exactly once.
    def all_running() -> bool:
        world.step()
        return all(job.status == "in_progress" for job in jobs)

    wait_for(all_running, 60, "every job to get a runner: " + standby.output())
    assert standby.alive()
    assert Counter(runner for job in jobs for runner in [job.runner]).most_common(1)[0][1] == 1
    assert sorted(len(taken) for taken in world.ran.values()) == [1] * JOBS
    expected = {job.runner: str(job.job_id) for job in jobs}
    wait_for(
        lambda: {worker.name: worker.job_id for worker in store.read_workers()} == expected,
        10,
        "each worker to learn its job",
    )
    live = set(expected)
    # Whatever the dead leader had half made was adopted or rolled back, not left behind.
    wait_for(
        lambda: sorted(world.leftovers()["pods"]) == sorted(live)
        and sorted(world.leftovers()["secrets"]) == sorted(live)
        and sorted(world.leftovers()["runners"]) == sorted(live),
        30,
        f"half-made runners to go: {world.leftovers()}",
    )

    world.complete()
    wait_for(
        lambda: world.leftovers() == {"pods": [], "secrets": [], "runners": []}
        and not store.read_workers(),
        30,
        f"the finished runners to be cleaned up: {world.leftovers()}",
    )


def test_a_replica_started_while_redis_is_down_waits_for_it_and_then_leads(replicas, redis_server):
    redis_server.stop()
    first = replicas[0].start()
    time.sleep(3)
    assert first.alive(), first.output()

    redis_server.start()

    assert wait_for(leader_pid, 20, "the replica to lead") == first.pid
