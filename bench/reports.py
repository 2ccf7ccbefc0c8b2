"""How long the report pages take as the history grows: 1,000 then 50,000 completed jobs.

Fills Redis the way production does, through real signed deliveries (queued, in_progress,
completed for every job) to a running RunnerHub, then times /history?per_page=100,
/history.json and, with 1,000 jobs pending or running, /usage. Prints the median of
--requests sequential requests each, and the 50,000/1,000 ratio for /history, whose page must
cost the page, not the history.

    .venv/bin/python -m bench.reports                 # its own redis-server and gunicorn
    .venv/bin/python -m bench.reports --base-url http://127.0.0.1:8080 \\
        --redis-url redis://127.0.0.1:6390/0 --secret "$GITHUB_WEBHOOK_SECRET" --flush

Against a running server the keyspace of --env must start empty (or pass --flush, which
FLUSHDBs the Redis database: never point it at a Redis that holds anything you want).
"""
import argparse
import contextlib
import http.client
import itertools
import json
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import redis

from harness.webhook_client import json_delivery_headers

LABELS = ["ubuntu-24.04-riscv", "ubuntu-24.04-riscv-2xlarge", "ubuntu-24.04-riscv-rvv"]
ACCOUNTS = 20
_ids = itertools.count(40_000_000_000)


def payload(action: str, job: int, account: int) -> dict:
    owner = {"id": 7_000_000 + account, "login": f"bench-org-{account}", "type": "Organization"}
    repo = f"{owner['login']}/project-{job % 7}"
    return {
        "action": action,
        "workflow_job": {
            "id": job,
            "run_id": job + 1_000_000_000,
            "run_attempt": 1,
            "name": f"build ({job % 5})",
            "workflow_name": "CI",
            "status": action,
            "conclusion": "success" if action == "completed" else None,
            "labels": [LABELS[job % len(LABELS)]],
            "runner_name": f"runner-{job}" if action != "queued" else None,
            "html_url": f"https://github.com/{repo}/actions/runs/{job}/job/{job}",
        },
        "repository": {
            "id": 600_000_000 + account * 10 + job % 7,
            "name": f"project-{job % 7}",
            "full_name": repo,
            "private": job % 11 == 0,
            "owner": owner,
        },
        "installation": {"id": 50_000_000 + account},
    }


class Client:
    """Plain HTTP/1.1 requests, one connection each (RunnerHub closes every connection)."""

    def __init__(self, base_url: str, secret: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.secret = secret

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def deliver(self, data: dict) -> None:
        body = json.dumps(data).encode()
        headers = json_delivery_headers(body, secret=self.secret)
        status, answer = self.request("POST", "/", body, headers)
        if status != 200:
            raise RuntimeError(f"delivery refused: {status} {answer[:200]!r}")

    def lifecycle(self, job: int, steps: tuple[str, ...]) -> None:
        account = job % ACCOUNTS
        for action in steps:
            self.deliver(payload(action, job, account))


def fill(client: Client, jobs: int, steps: tuple[str, ...], concurrency: int) -> float:
    """Send every job's deliveries in order, `concurrency` jobs at a time; the deliveries/s."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(
            lambda job: client.lifecycle(job, steps), (next(_ids) for _ in range(jobs))
        ):
            pass
    return jobs * len(steps) / (time.perf_counter() - started)


def median_ms(client: Client, path: str, requests: int, warmup: int) -> float:
    timings = []
    for attempt in range(warmup + requests):
        started = time.perf_counter()
        status, body = client.request("GET", path, headers={"Accept": "text/html"})
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        if attempt >= warmup:
            timings.append(elapsed * 1000)
    return statistics.median(timings)


@contextlib.contextmanager
def own_servers(workers: int) -> Iterator[tuple[str, str, str]]:
    """A fresh redis-server and gunicorn with production settings, stopped afterwards."""
    from harness.redis_server import RedisServer
    from harness.servers import Gunicorn
    from harness.webhook_client import TEST_SECRET

    redis_server = RedisServer().start()
    try:
        with Gunicorn(redis_server.url, workers=workers) as gunicorn:
            yield gunicorn.url, redis_server.url, TEST_SECRET
    finally:
        redis_server.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running RunnerHub; default: start one")
    parser.add_argument("--redis-url", help="its Redis (required with --base-url)")
    parser.add_argument("--secret", help="its webhook secret (required with --base-url)")
    parser.add_argument("--env", default="prod", help="its RUNNERHUB_ENV (default prod)")
    parser.add_argument("--flush", action="store_true", help="FLUSHDB the Redis database first")
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--active", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers when started here")
    args = parser.parse_args()
    if args.base_url and not (args.redis_url and args.secret):
        parser.error("--base-url needs --redis-url and --secret")

    servers = (
        contextlib.nullcontext((args.base_url, args.redis_url, args.secret))
        if args.base_url
        else own_servers(args.workers)
    )
    with servers as (base_url, redis_url, secret):
        store = redis.Redis.from_url(redis_url)
        if args.flush or not args.base_url:
            store.flushdb()
        history_key = f"{args.env}:history"
        if store.zcard(history_key):
            print(f"{history_key} is not empty: use an empty Redis or --flush", file=sys.stderr)
            return 2
        client = Client(base_url, secret)
        full = ("queued", "in_progress", "completed")
        warmup = 2 * args.workers
        pages: dict[str, dict[int, float]] = {
            "/history?per_page=100": {},
            "/history.json": {},
            # Not required, shown for what they cost: a filtered page (1 job in 20 matches),
            # and a deep page (an offset walks the index in C).
            "/history?per_page=100&account=bench-org-3": {},
            "/history.json?page=9&per_page=100": {},
        }

        print(f"RunnerHub at {base_url}, Redis at {redis_url}")
        for size in (args.small, args.large):
            rate = fill(client, size - store.zcard(history_key), full, args.concurrency)
            print(
                f"filled to {store.zcard(history_key):,} completed jobs ({rate:,.0f} deliveries/s)"
            )
            for path, medians in pages.items():
                medians[size] = median_ms(client, path, args.requests, warmup)
                print(f"  GET {path:<42} median {medians[size]:7.1f} ms")

        rate = fill(client, args.active // 2, ("queued",), args.concurrency)
        fill(client, args.active - args.active // 2, ("queued", "in_progress"), args.concurrency)
        print(f"added {args.active:,} active jobs (half running)")
        usage = median_ms(client, "/usage", args.requests, warmup)
        usage_json = median_ms(client, "/usage.json", args.requests, warmup)
        print(f"  GET {'/usage':<42} median {usage:7.1f} ms")
        print(f"  GET {'/usage.json':<42} median {usage_json:7.1f} ms")

        small, large = (
            pages["/history?per_page=100"][args.small],
            pages["/history?per_page=100"][args.large],
        )
        ratio = large / small
        verdict = "ok" if ratio < 2 and large < 100 else "TOO SLOW"
        print(
            f"/history?per_page=100: {small:.1f} ms at {args.small:,} jobs, {large:.1f} ms at "
            f"{args.large:,}: ratio {ratio:.2f} (must be < 2, and < 100 ms): {verdict}"
        )
        return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
