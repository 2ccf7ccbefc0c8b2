"""The scheduler against the fake GitHub and Kubernetes: how fast demand becomes pods.

1. 1,000 queued jobs over 20 accounts (three label sets): passes until every job has a pod,
   with pods booting between passes; the wall time, the passes, and the GitHub calls per runner
   started (installation tokens reused: about one JIT call each).
2. The cost of one pass at 100, 1,000 and 10,000 active jobs: reading the demand and the
   workers, listing the pods, deciding. The accounts are blocked, so the pass starts nothing
   and what is timed is what grows with the jobs; the steady-state pass with 1,000 runners
   running (after step 1) is timed too. It must grow no worse than linearly.

Everything runs in this process against its own redis-server, SQLite database and fake servers,
through the same clients as production.

    .venv/bin/python -m bench.scheduler [--jobs 1000] [--accounts 20] [--sizes 100,1000,10000]
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.redis_server import RedisServer
from harness.webhook_client import TEST_SECRET

LABELS = [["ubuntu-24.04-riscv"], ["ubuntu-24.04-riscv-2xlarge"], ["ubuntu-24.04-riscv-rvv"]]


def setup(redis_url: str, database: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "runnerhub.settings",
            "DEBUG": "1",
            "RUNNERHUB_ENV": "prod",
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{database}",
            "GITHUB_WEBHOOK_SECRET": TEST_SECRET,
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5, help="passes timed per size")
    args = parser.parse_args()

    redis_server = RedisServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="runnerhub-bench-scheduler-"))
    try:
        setup(redis_server.url, workdir / "db.sqlite3")
        run(args, redis_server)
    finally:
        redis_server.cleanup()


def run(args: argparse.Namespace, redis_server: RedisServer) -> None:
    from django.conf import settings
    from django.core.servers.basehttp import get_internal_wsgi_application

    from runners.github import GitHubRunners
    from runners.kube import Cluster
    from runners.scheduler import Scheduler
    from harness.fake_github import FakeGitHub
    from harness.fake_kubernetes import FakeKubernetes
    from harness.runner_world import NAMESPACE, World
    from harness.webhook_client import deliver_to
    from webhooks.models import Account

    app = get_internal_wsgi_application()  # what gunicorn serves
    with FakeGitHub(rate_limit=1_000_000) as github, FakeKubernetes() as kube:
        settings.GITHUB_APP_ID = str(github.app_id)
        settings.GITHUB_APP_PRIVATE_KEY = github.private_key_pem
        settings.GITHUB_API_URL = github.url
        settings.RUNNER_NAMESPACE = NAMESPACE
        settings.ORPHAN_SWEEP_SECONDS = 10**9
        world = World(kube, github, lambda payload: deliver_to(app, payload).status_code)
        scheduler = Scheduler(GitHubRunners(), Cluster(kube.api_client()), replica="bench")
        assert scheduler.lead()

        # 1. A burst of queued jobs until every one has a pod.
        accounts = [world.account(f"bench-org-{n}", 8_000_000 + n) for n in range(args.accounts)]
        for n in range(args.jobs):
            world.queue(accounts[n % len(accounts)], LABELS[n % len(LABELS)])
        began, passes = time.monotonic(), 0
        calls_before = len(github.calls)
        while len(kube.pods(NAMESPACE)) < args.jobs:
            scheduler.lead()
            scheduler.run_pass()
            world.boot()
            passes += 1
            if passes > 10 * args.jobs:
                raise SystemExit("the scheduler did not converge")
        elapsed = time.monotonic() - began
        calls = github.calls[calls_before:]
        jit = sum(1 for method, path, _ in calls if path.endswith("/generate-jitconfig"))
        tokens = sum(1 for method, path, _ in calls if path.endswith("/access_tokens"))
        print(f"{args.jobs} queued jobs over {args.accounts} accounts, POOL_MAX_PENDING_PODS="
              f"{settings.POOL_MAX_PENDING_PODS}:")  # fmt: skip
        print(f"  every job has a pod after {elapsed:.1f} s, {passes} passes "
              f"({args.jobs / elapsed:.0f} runners/s)")  # fmt: skip
        print(f"  GitHub calls per runner started: {len(calls) / args.jobs:.3f} "
              f"(JIT {jit / args.jobs:.3f}, installation tokens {tokens} in all)")  # fmt: skip

        steady = timed_passes(scheduler, args.repeat)
        print(f"  steady pass with {args.jobs} runners running: {steady * 1000:.0f} ms")

        # 2. One pass as the active jobs grow; no account may start a runner.
        print("one pass, read + list + decide, accounts blocked (nothing started):")
        previous = None
        for pod in kube.pods(NAMESPACE):  # a cluster with no runner pods, as at the start
            kube.delete_pod_out_of_band(NAMESPACE, pod["metadata"]["name"])
        for size in (int(value) for value in args.sizes.split(",")):
            redis_server.client().flushall()
            scheduler.lead()
            blocked = [world.account(f"size-{size}-{n}", 9_000_000 + size * 100 + n)
                       for n in range(args.accounts)]  # fmt: skip
            for n in range(size):
                world.queue(blocked[n % len(blocked)], LABELS[n % len(LABELS)])
            # Blocked once their jobs are recorded: those jobs stay demand, and get no runner.
            for account in blocked:
                Account.objects.update_or_create(
                    github_id=account.owner_id, defaults={"login": account.login, "blocked": True}
                )
            cost = timed_passes(scheduler, args.repeat)
            growth = "" if previous is None else f"  ({cost / previous[1]:.1f}x for {size / previous[0]:.0f}x the jobs)"
            print(f"  {size:>6} active jobs: {cost * 1000:8.1f} ms per pass{growth}")
            previous = (size, cost)


def timed_passes(scheduler, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        scheduler.lead()
        began = time.perf_counter()
        scheduler.run_pass()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


if __name__ == "__main__":
    main()
