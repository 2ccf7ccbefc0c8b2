"""A chaos run of the whole path: deliveries lost and redelivered, GitHub failing, Redis
restarted, the leading scheduler killed, and in the end everything converges.

2,000 jobs over 20 accounts go through the full path: the fake GitHub's webhook signs each
delivery and sends it to RunnerHub under gunicorn (2 workers), losing 5% of them on the way;
two `run_scheduler` replicas provision runners on the fake Kubernetes through the real clients,
while the fake GitHub answers 1% of API calls with 502. Redis (AOF, fsync always) is restarted
once and the leading replica is SIGKILLed twice (and started again). Runners boot, take jobs
with exactly their labels and finish them as GitHub would.

At the end every job is completed in RunnerHub exactly when it is completed on the fake GitHub,
every job got exactly one runner, and no pod, secret, registration or live worker is left.
Prints the time to converge after the last fault, GitHub calls per job and the redeliveries.

    .venv/bin/python -m bench.chaos [--jobs 2000] [--accounts 20]
"""
import argparse
import http.client
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harness.settings")

import django  # noqa: E402

django.setup()

from harness.fake_github import FakeGitHub  # noqa: E402
from harness.fake_kubernetes import FakeKubernetes  # noqa: E402
from harness.redis_server import RedisServer  # noqa: E402
from harness.runner_world import World  # noqa: E402
from harness.servers import Gunicorn, SchedulerProcess  # noqa: E402
from runners import store  # noqa: E402
from webhooks import reads  # noqa: E402

LABELS = [["ubuntu-24.04-riscv"], ["ubuntu-24.04-riscv-2xlarge"], ["ubuntu-24.04-riscv-rvv"]]


def poster(port: int):
    def post(body: bytes, headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError:
            return 0  # no answer: GitHub records the delivery as failed
        finally:
            connection.close()

    return post


def leader_pid() -> int | None:
    try:
        holder = store.lease_holder()
    except store.StoreUnavailable:
        return None
    return int(holder.rsplit(" ", 1)[0].rsplit("-", 2)[1]) if holder else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50, help="jobs queued per step")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    from django.conf import settings

    redis_server = RedisServer(appendonly=True).start()
    settings.CACHES["default"]["LOCATION"] = redis_server.url
    workdir = Path(tempfile.mkdtemp(prefix="runnerhub-chaos-"))
    with FakeGitHub() as github, FakeKubernetes() as kube, Gunicorn(redis_server.url) as web:
        env = SchedulerProcess.environment(
            github, kube, redis_server.url, workdir,
            LOG_LEVEL="WARNING",
            POOL_MAX_PENDING_PODS="25",
            # A runner left over (its job went to another one) is reaped soon, not in 10 min.
            RUNNER_IDLE_TIMEOUT="20",
            ORPHAN_SWEEP_SECONDS="15",
            RECONCILE_PENDING_AFTER="60",
            RECONCILE_RUNNING_AFTER="60",
            RECONCILE_INTERVAL_SECONDS="10",
            REDELIVERY_INTERVAL_SECONDS="10",
        )  # fmt: skip
        SchedulerProcess.migrate(env, workdir / "scheduler.sqlite3")
        replicas = [SchedulerProcess(env, workdir / "scheduler.sqlite3").start() for _ in range(2)]
        world = World(kube, github, deliver=lambda payload: 0, lose_rate=0.05)
        world.through_github(poster(web.port))
        github.bad_gateway_rate = 0.01
        accounts = [world.account(f"chaos-org-{n}", 7_100_000 + n) for n in range(args.accounts)]
        faults = {args.jobs // 3: "kill", args.jobs // 2: "redis", (2 * args.jobs) // 3: "kill"}
        began = time.monotonic()
        last_fault = began
        queued = 0
        try:
            while queued < args.jobs:
                for _ in range(min(args.batch, args.jobs - queued)):
                    world.queue(accounts[queued % len(accounts)], LABELS[queued % len(LABELS)])
                    queued += 1
                    fault = faults.pop(queued, None)
                    if fault == "kill":
                        replicas = kill_leader(replicas, env, workdir)
                        last_fault = time.monotonic()
                    elif fault == "redis":
                        redis_server.stop()
                        time.sleep(2)
                        redis_server.start()
                        last_fault = time.monotonic()
                        print(f"  {time.monotonic() - began:6.1f} s  Redis restarted")
                world.step()
                world.complete()
            converged = converge(world, args.timeout)
            done = time.monotonic()
            report(world, github, began, last_fault, done, converged)
        finally:
            for process in replicas:
                process.stop()
            redis_server.cleanup()


def kill_leader(replicas: list[SchedulerProcess], env, workdir) -> list[SchedulerProcess]:
    deadline = time.monotonic() + 30
    while (pid := leader_pid()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    [leader] = [process for process in replicas if process.pid == pid] or [replicas[0]]
    leader.kill()
    print(f"  leader {pid} SIGKILLed; a new replica starts")
    return [process for process in replicas if process is not leader] + [
        SchedulerProcess(env, workdir / "scheduler.sqlite3").start()
    ]


def converge(world: World, timeout: float) -> bool:
    """Runners boot and finish their jobs until RunnerHub agrees with GitHub on every job and
    nothing is left running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        world.step()
        world.complete()
        if agreed(world) and world.leftovers() == {"pods": [], "secrets": [], "runners": []}:
            try:
                if not store.read_workers():
                    return True
            except store.StoreUnavailable:
                pass
        time.sleep(0.5)
    return False


def agreed(world: World) -> bool:
    if any(job.status != "completed" for job in world.jobs.values()):
        return False
    try:
        records = reads.read_jobs([str(job_id) for job_id in world.jobs], ("status",))
    except reads.StoreUnavailable:
        return False
    return all(record is not None and record["status"] == "completed" for record in records)


def report(world: World, github: FakeGitHub, began: float, last_fault: float, done: float,
           converged: bool) -> None:  # fmt: skip
    jobs = len(world.jobs)
    runs = Counter(job_id for taken in world.ran.values() for job_id in taken)
    runners_per_job = Counter(runs.values())
    print(f"{jobs} jobs, {len(world.ran)} runners, converged: {converged}")
    print(f"  whole run {done - began:.1f} s; converged {done - last_fault:.1f} s after the last fault")
    print(f"  runners per job: {dict(runners_per_job)}; jobs no runner ran: {jobs - len(runs)}")
    print(f"  runners that ran more than one job: {sum(1 for t in world.ran.values() if len(t) > 1)}")
    print(f"  GitHub API calls per job: {len(github.calls) / jobs:.2f} "
          f"({Counter(status for _, _, status in github.calls).most_common()})")  # fmt: skip
    deliveries = github.deliveries()
    failed = sum(1 for d in deliveries if not d["redelivery"] and not 200 <= d["status_code"] < 300)
    print(f"  deliveries {sum(1 for d in deliveries if not d['redelivery'])}, failed first time "
          f"{failed}, redeliveries made {len(github.redeliveries)}")  # fmt: skip
    print(f"  leftovers: {world.leftovers()}")
    stats = store.read_stats()
    print(f"  reconciled jobs {int(stats.get('reconcile_applied', 0))} of "
          f"{int(stats.get('reconcile_checked', 0))} checked; runners rolled back or failed "
          f"{int(stats.get('runners_failed', 0))}")  # fmt: skip
    if not converged or runners_per_job.keys() - {1} or jobs != len(runs):
        raise SystemExit("the run did not converge to one runner per job")


if __name__ == "__main__":
    main()
