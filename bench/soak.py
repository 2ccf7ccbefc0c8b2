"""Soak: 100,000 signed deliveries against gunicorn with 4 workers, and what they leave behind.

    .venv/bin/python -m bench.soak [--deliveries 100000] [--workers 4] [--concurrency 16]

Starts its own Redis and gunicorn (gunicorn.conf.py, production settings), warms up with
--warmup deliveries, then sends a queued and a completed delivery for each of deliveries/2 jobs,
about --pending jobs apart so that demand stays steady, from --concurrency clients, each
delivery shaped like GitHub's example payload (about 7 kB). Prints the throughput of every
10,000 deliveries, the workers' resident memory after the warm-up and at the end, Redis's memory
per completed job it keeps (for the retention period), and every error: a delivery not answered
200, or a job that Redis does not hold as completed afterwards.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis

from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import fixture_bytes, json_delivery_headers
from webhooks.keys import Keys

SECRET = "soak-webhook-secret-0123456789abcdef"
ORGS = 10
POOL = "scw-em-rv1"
FIRST_JOB = 50_000_000_000
# Stand-ins in the payload template, replaced per delivery: cheaper than a JSON dump each time.
JOB, OWNER = b"987654321987654", b"876543210876"


class Payloads:
    """Signed deliveries of job `n`, built from GitHub's example queued payload."""

    def __init__(self) -> None:
        template = json.loads(fixture_bytes("workflow_job.queued.payload.json"))
        template["workflow_job"].update(id=int(JOB), labels=["ubuntu-24.04-riscv"])
        template["repository"]["owner"].update(id=int(OWNER), type="Organization")
        self.bodies = {}
        for action in ("queued", "completed"):
            template["action"] = action
            template["workflow_job"]["status"] = action
            if action == "completed":
                template["workflow_job"].update(conclusion="success", runner_name="rv-runner-1")
            self.bodies[action] = json.dumps(template).encode()

    def delivery(self, job_id: int, action: str) -> tuple[bytes, dict[str, str]]:
        owner = str(70_000_000 + job_id % ORGS).encode()
        body = self.bodies[action].replace(JOB, str(job_id).encode()).replace(OWNER, owner)
        return body, json_delivery_headers(body, secret=SECRET)


@dataclass
class Tally:
    """What came back, kept per block of deliveries for the throughput over time."""

    block: int
    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    errors: list[str] = field(default_factory=list)
    blocks: list[tuple[int, float, float, float]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.done += 1
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)
            if self.done % self.block == 0:
                now = time.perf_counter()
                ordered = sorted(self.latencies)
                p50 = ordered[len(ordered) // 2] * 1000
                p99 = ordered[int(len(ordered) * 0.99)] * 1000
                self.blocks.append((self.done, self.block / (now - self.started), p50, p99))
                print(f"{self.done:>9,} {self.blocks[-1][1]:>9.1f} {p50:>8.2f} {p99:>8.2f} "
                      f"{len(self.errors):>7}", flush=True)  # fmt: skip
                self.started, self.latencies = now, []


def schedule(first: int, jobs: int, pending: int) -> list[tuple[int, str]]:
    """Each job queued, then completed `pending` deliveries' worth of jobs later."""
    order = []
    for n in range(jobs + pending):
        if n < jobs:
            order.append((first + n, "queued"))
        if n >= pending:
            order.append((first + n - pending, "completed"))
    return order


def send(port: int, payloads: Payloads, order: list[tuple[int, str]], concurrency: int,
         tally: Tally) -> None:  # fmt: skip
    def one(item: tuple[int, str]) -> None:
        body, headers = payloads.delivery(*item)
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        error = None
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                error = f"{item[1]} of job {item[0]}: {response.status} {answer[:80]!r}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{item[1]} of job {item[0]}: {type(exc).__name__}"
        finally:
            connection.close()
        tally.record(time.perf_counter() - started, error)

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(one, order):
            pass


def rss_kib(pids: set[int]) -> dict[int, int]:
    sizes = {}
    for pid in sorted(pids):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes[pid] = int(line.split()[1])
    return sizes


def unfinished(client: redis.Redis, first: int, jobs: int) -> list[str]:
    """Jobs Redis does not hold as completed, and pool sets still holding jobs."""
    k = Keys("prod")
    problems = []
    for start in range(first, first + jobs, 10_000):
        ids = range(start, min(start + 10_000, first + jobs))
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(k.job(job_id), "status")
        problems += [f"job {j} is {s}" for j, s in zip(ids, pipe.execute()) if s != b"completed"]
    for org in range(ORGS):
        if left := client.scard(k.pool_jobs(70_000_000 + org, POOL)):
            problems.append(f"pool of org {org} still holds {left} jobs")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=4_000)
    parser.add_argument("--pending", type=int, default=500, help="jobs waiting at any time")
    parser.add_argument("--block", type=int, default=10_000, help="deliveries per line")
    args = parser.parse_args()

    payloads = Payloads()
    store = RedisServer(appendonly=True).start()
    env = {"GITHUB_WEBHOOK_SECRET": SECRET, "RUNNERHUB_ENV": "prod", "LOG_LEVEL": "INFO"}
    server = Gunicorn(store.url, args.workers, env=env)
    client = redis.Redis.from_url(store.url)
    try:
        server.start()
        warmup = schedule(FIRST_JOB - args.warmup, args.warmup // 2, args.pending)
        send(server.port, payloads, warmup, args.concurrency, Tally(block=10**9))
        workers = server.worker_pids()
        rss_start = rss_kib(workers)
        memory_start = int(client.info("memory")["used_memory"])
        jobs = args.deliveries // 2
        print(f"gunicorn: {args.workers} workers (gunicorn.conf.py); {args.concurrency} clients; "
              f"{jobs:,} jobs, each queued then completed; payload "
              f"{len(payloads.delivery(FIRST_JOB, 'queued')[0]):,} bytes; Redis appendfsync "
              "always")  # fmt: skip
        print(f"{'sent':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        tally = Tally(block=args.block)
        started = time.perf_counter()
        send(server.port, payloads, schedule(FIRST_JOB, jobs, args.pending), args.concurrency,
             tally)  # fmt: skip
        seconds = time.perf_counter() - started
        rss_end = rss_kib(server.worker_pids())
        memory_end = int(client.info("memory")["used_memory"])
        problems = unfinished(client, FIRST_JOB, jobs)
        sample = [client.memory_usage(f"prod:job:{FIRST_JOB + n}") or 0 for n in range(0, jobs, 97)]
    finally:
        server.stop()
        store.cleanup()

    print(f"total    {tally.done:,} deliveries in {seconds:.1f} s: {tally.done / seconds:.1f}/s")
    print("worker RSS (KiB), after warm-up -> end:")
    for pid in sorted(set(rss_start) | set(rss_end)):
        start, end = rss_start.get(pid), rss_end.get(pid)
        growth = f"{(end - start) / start:+.1%}" if start and end else "(restarted)"
        print(f"  pid {pid}: {start} -> {end}  {growth}")
    total_start, total_end = sum(rss_start.values()), sum(rss_end.values())
    print(f"  all: {total_start} -> {total_end}  {(total_end - total_start) / total_start:+.1%}")
    per_job = (memory_end - memory_start) / jobs
    print(f"redis used_memory: {memory_start:,} -> {memory_end:,} bytes: {per_job:,.0f} bytes per "
          f"retained completed job (job hash alone: {statistics.mean(sample):,.0f}; the rest is "
          "its history entry and its share of the capped events and deliveries streams)")  # fmt: skip
    errors = tally.errors + problems
    print(f"errors: {len(errors)}")
    for error in errors[:20]:
        print(f"  {error}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
