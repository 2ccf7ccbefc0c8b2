"""Webhook throughput and latency: N queued deliveries, then their completed ones.

One target:
    python bench/webhook.py --url http://127.0.0.1:8080 --redis redis://127.0.0.1:6390/0 \\
        --secret "$GITHUB_WEBHOOK_SECRET" [--env prod] [--jobs 2000] [--concurrency 16]

Side by side with the practical limit (a raw WSGI app doing only the irreducible work, in
../shared/bench/limit_app.py), both started here under the same gunicorn settings and a Redis of
their own, measured in alternating rounds so that drift on a shared machine hits both alike:
    python bench/webhook.py --compare [--workers 2] [--rounds 3]

What waiting for a replica costs (REDIS_MIN_REPLICAS_ACK): a primary and a replica, and two
RunnerHubs writing to it under gunicorn.conf.py's threaded workers, one with the WAIT (1 replica)
and one without, measured in alternating rounds:
    python bench/webhook.py --replica-ack [--workers 2] [--rounds 3] [--concurrency 16]

Every delivery is about 8.5 kB, shaped like GitHub's example payloads. Afterwards Redis must
hold exactly what was sent: every job completed, every pool set empty.
"""
import argparse
import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.webhook_client import json_delivery_headers  # noqa: E402

SHARED = ROOT.parent / "shared"
TEMPLATE = SHARED / "fixtures" / "github" / "workflow_job.queued.payload.json"
LABEL = "ubuntu-24.04-riscv"
POOL = "scw-em-rv1"
ORGS = 10
PAYLOAD_BYTES = 8500


@dataclass(frozen=True)
class Delivery:
    job_id: int
    owner_id: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<10} {self.requests:>8} {self.errors:>6} {self.rate:>9.1f} "
            f"{self.percentile(0.50):>8.2f} {self.percentile(0.99):>8.2f}"
        )


def deliveries(first_id: int, count: int, action: str, secret: str) -> list[Delivery]:
    """Signed deliveries of jobs first_id .. first_id+count-1, padded to about 8.5 kB."""
    template = json.loads(TEMPLATE.read_bytes())
    made = []
    for job_id in range(first_id, first_id + count):
        payload = json.loads(json.dumps(template))
        owner_id = 70_000_000 + job_id % ORGS
        job = payload["workflow_job"]
        job.update(id=job_id, run_id=10_000_000_000 + job_id // 4, labels=[LABEL], status=action,
                   runner_id=None, runner_name=None, runner_group_id=None, runner_group_name=None)  # fmt: skip
        if action == "completed":
            job.update(conclusion="success", runner_name=f"rv-runner-{job_id % 64}")
        payload["action"] = action
        payload["repository"]["owner"].update(id=owner_id, login=f"org-{owner_id}", type="Organization")
        payload["repository"]["full_name"] = f"org-{owner_id}/{payload['repository']['name']}"
        body = json.dumps(payload, indent=2).encode()
        pad = PAYLOAD_BYTES - len(body)
        if pad > 40:
            payload["workflow_job"]["head_branch"] = "main-" + "x" * (pad - 40)
            body = json.dumps(payload, indent=2).encode()
        made.append(Delivery(job_id, owner_id, body, json_delivery_headers(body, secret=secret)))
    return made


def send(base_url: str, batch: list[Delivery], concurrency: int) -> Figures:
    """POST every delivery, `concurrency` at a time, each on a connection of its own.

    Requests are written as prebuilt bytes and replies read to the end of the connection
    (gunicorn's sync workers close it), so the client spends little CPU of the machine it
    shares with the servers.
    """
    url = urlsplit(base_url)
    address = (url.hostname, url.port)
    host = f"{url.hostname}:{url.port}"

    def wire(delivery: Delivery) -> bytes:
        head = f"POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        head += f"Content-Length: {len(delivery.body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in delivery.headers.items())
        return head.encode() + b"\r\n" + delivery.body

    requests = [wire(delivery) for delivery in batch]

    def one(request: bytes) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            with socket.create_connection(address, timeout=30) as sock:
                sock.sendall(request)
                reply = bytearray()
                while chunk := sock.recv(65536):
                    reply += chunk
            ok = reply.startswith(b"HTTP/1.1 200 ") or reply.startswith(b"HTTP/1.0 200 ")
        except OSError:
            ok = False
        return time.perf_counter() - started, ok

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, requests))
    seconds = time.perf_counter() - started
    return Figures(len(batch), sum(not ok for _, ok in results), seconds, [t for t, _ in results])


def verify(redis_url: str, env: str, sent: list[Delivery]) -> list[str]:
    """What Redis should hold and does not: every job completed, every pool set empty."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline(transaction=False)
    for delivery in sent:
        pipe.hget(f"{env}:job:{delivery.job_id}", "status")
    statuses = pipe.execute()
    problems = [f"job {d.job_id} is {s}" for d, s in zip(sent, statuses, strict=True) if s != "completed"]
    for owner_id in sorted({d.owner_id for d in sent}):
        left = client.scard(f"{env}:pool:{owner_id}:{POOL}:jobs")
        if left:
            problems.append(f"pool {owner_id}:{POOL} still holds {left} jobs")
    return problems


def run(base_url: str, redis_url: str, env: str, secret: str, first_id: int, jobs: int,
        concurrency: int) -> Figures:  # fmt: skip
    queued = deliveries(first_id, jobs, "queued", secret)
    completed = deliveries(first_id, jobs, "completed", secret)
    figures = [send(base_url, queued, concurrency), send(base_url, completed, concurrency)]
    problems = verify(redis_url, env, queued)
    for problem in problems[:10]:
        print(f"  redis: {problem}", file=sys.stderr)
    return Figures(
        sum(f.requests for f in figures),
        sum(f.errors for f in figures) + len(problems),
        sum(f.seconds for f in figures),
        [t for f in figures for t in f.latencies],
    )


def merge(runs: list[Figures]) -> Figures:
    return Figures(
        sum(f.requests for f in runs),
        sum(f.errors for f in runs),
        sum(f.seconds for f in runs),
        [t for f in runs for t in f.latencies],
    )


HEADER = f"{'target':<10} {'requests':>8} {'errors':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"


def compare(args: argparse.Namespace) -> None:
    from tests.redis_server import RedisServer
    from tests.servers import Gunicorn

    secret = "bench-webhook-secret-0123456789abcdef"
    store = RedisServer().start()
    # Sync workers for both, as the limit app is specified; production runs gthread workers.
    runnerhub = Gunicorn(
        store.url, args.workers, worker_class="sync",
        env={"GITHUB_WEBHOOK_SECRET": secret, "RUNNERHUB_ENV": "prod", "LOG_LEVEL": "INFO"},
    )  # fmt: skip
    limit = Gunicorn(
        store.url, args.workers,
        env={"SECRET": secret, "ENVP": "staging"}, worker_class="sync",
        app="limit_app:app", chdir=SHARED / "bench",
    )  # fmt: skip
    targets = {"runnerhub": (runnerhub, "prod"), "limit": (limit, "staging")}
    results: dict[str, list[Figures]] = {name: [] for name in targets}
    try:
        runnerhub.start()
        limit.start()
        for name, (server, env) in targets.items():  # warm up: imports, connections, script cache
            run(server.url, store.url, env, secret, 1, 200, args.concurrency)
        next_id = 1_000_000
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
            for name in order:
                server, env = targets[name]
                results[name].append(
                    run(server.url, store.url, env, secret, next_id, args.jobs, args.concurrency)
                )
                next_id += args.jobs
    finally:
        runnerhub.stop()
        limit.stop()
        store.cleanup()
    print(f"gunicorn: {args.workers} sync workers each; {args.concurrency} concurrent clients; "
          f"{args.rounds} alternating rounds of {args.jobs} jobs (queued + completed); "
          f"payload {len(deliveries(1, 1, 'queued', 'x')[0].body)} bytes")  # fmt: skip
    print(HEADER)
    merged = {name: merge(runs) for name, runs in results.items()}
    for name, figures in merged.items():
        print(figures.line(name))
    print(f"ratio runnerhub/limit throughput: {merged['runnerhub'].rate / merged['limit'].rate:.2f}")


# A script shaped like the delivery's (a hash and a stream entry), for the WAIT's cost alone.
WRITE = "redis.call('HSET', KEYS[1], 'status', ARGV[1]) redis.call('XADD', KEYS[2], '*', 'f', 1)"


def wait_cost(client: redis.Redis, samples: int = 5000) -> None:
    """Time the script alone, with WAIT in the same pipeline (as RunnerHub sends it), and with
    WAIT as a round trip of its own: the median and 99th percentile in microseconds."""
    script = client.register_script(WRITE)

    def alone(key: str) -> None:
        script(keys=[key, "bench:events"], args=["pending"])

    def pipelined(key: str) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, 2, key, "bench:events", "pending")
        pipe.wait(1, 1000)
        pipe.execute()

    def separate(key: str) -> None:
        alone(key)
        client.wait(1, 1000)

    print(f"{'redis-py, one thread':<22} {'p50 us':>8} {'p99 us':>8}")
    for way in (alone, pipelined, separate):
        times = []
        for n in range(samples):
            started = time.perf_counter()
            way(f"bench:job:{n}")
            times.append(time.perf_counter() - started)
        times.sort()
        p50, p99 = times[samples // 2] * 1e6, times[samples * 99 // 100] * 1e6
        print(f"{way.__name__:<22} {p50:>8.0f} {p99:>8.0f}")
    client.flushall()


def replica_ack(args: argparse.Namespace) -> None:
    from tests.redis_server import RedisServer
    from tests.servers import Gunicorn

    secret = "bench-webhook-secret-0123456789"
    primary = RedisServer().start()
    replica = RedisServer(replicaof=primary.port).start()
    env = {"GITHUB_WEBHOOK_SECRET": secret, "RUNNERHUB_ENV": "prod", "LOG_LEVEL": "INFO"}
    targets = {
        "no wait": Gunicorn(primary.url, args.workers, env={**env, "REDIS_MIN_REPLICAS_ACK": "0"}),
        "wait 1": Gunicorn(primary.url, args.workers, env={**env, "REDIS_MIN_REPLICAS_ACK": "1"}),
    }
    results: dict[str, list[Figures]] = {name: [] for name in targets}
    try:
        replica.wait_until_replicating()
        wait_cost(primary.client())
        for server in targets.values():
            server.start()
        next_id = 1
        for server in targets.values():  # warm up: imports, connections, script cache
            run(server.url, primary.url, "prod", secret, next_id, 200, args.concurrency)
            next_id += 200
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
            for name in order:
                results[name].append(
                    run(targets[name].url, primary.url, "prod", secret, next_id, args.jobs,
                        args.concurrency)
                )  # fmt: skip
                next_id += args.jobs
        lag = replica.client().info("replication")["slave_repl_offset"]
        behind = primary.client().info("replication")["master_repl_offset"] - lag
    finally:
        for server in targets.values():
            server.stop()
        replica.cleanup()
        primary.cleanup()
    print(f"gunicorn: {args.workers} gthread workers each; {args.concurrency} concurrent clients; "
          f"{args.rounds} alternating rounds of {args.jobs} jobs (queued + completed); "
          f"a primary and one replica on loopback (replica {behind} bytes behind at the end)")  # fmt: skip
    print(HEADER)
    for name, runs in results.items():
        print(merge(runs).line(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="base URL of the webhook receiver")
    parser.add_argument("--redis", help="Redis URL the receiver writes to")
    parser.add_argument("--secret", help="the receiver's webhook secret")
    parser.add_argument("--env", default="prod", help="its key prefix (RUNNERHUB_ENV)")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--compare", action="store_true", help="RunnerHub against the limit app")
    parser.add_argument("--replica-ack", action="store_true",
                        help="RunnerHub waiting for a replica's acknowledgement, and not")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="with --compare: gunicorn workers")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare: alternating rounds")
    parser.add_argument("--first-id", type=int, default=int(time.time()) * 1000)
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    if args.replica_ack:
        replica_ack(args)
        return
    if not (args.url and args.redis and args.secret):
        parser.error("--url, --redis and --secret are required without --compare")
    figures = run(args.url, args.redis, args.env, args.secret, args.first_id, args.jobs,
                  args.concurrency)  # fmt: skip
    print(HEADER)
    print(figures.line("target"))


if __name__ == "__main__":
    main()
