"""Webhook throughput and latency: N queued deliveries, then their completed ones.

One target:
    python -m bench.webhook --url http://127.0.0.1:8080 --redis redis://127.0.0.1:6390/0 \\
        --secret "$GITHUB_WEBHOOK_SECRET" [--env prod] [--jobs 2000] [--concurrency 16]

Side by side with the practical limit (a raw WSGI app doing only the irreducible work, in
bench/limit_app.py), both started here under the same gunicorn settings and one Redis, measured
in alternating rounds so that drift on a shared machine hits both alike. The client is `wrk`
(Debian's package, driven by bench/wrk_deliveries.lua), which takes little of the CPU both
servers need; `--client python` uses threads of this process instead, where wrk is missing.
Besides throughput and latency it reports Redis's own time per delivery (INFO commandstats) and
the CPU the gunicorn workers spent per delivery (user and system, from /proc):
    python -m bench.webhook --compare [--workers 2] [--rounds 3] [--client wrk|python]

What a change costs: the same, with another checkout's RunnerHub (a git worktree of another
commit) in the limit's place, under its own keys:
    git worktree add ../before HEAD~1 && python -m bench.webhook --compare --against ../before

Where the time goes, without HTTP: the WSGI application gunicorn serves (WSGI_APPLICATION)
and the limit app, called directly in this process, one thread, the same Redis: Python CPU per
delivery, Redis's time per delivery, and Redis memory per retained completed job (its hash,
history entry, and its share of the events stream and the delivery log):
    python -m bench.webhook --in-process [--jobs 2000]

What waiting for a replica costs (REDIS_MIN_REPLICAS_ACK): a primary and a replica, and two
RunnerHubs writing to it under gunicorn.conf.py's threaded workers, one with the WAIT (1 replica)
and one without, measured in alternating rounds:
    python -m bench.webhook --replica-ack [--workers 2] [--rounds 3] [--concurrency 16]

Every delivery is about 8.5 kB, shaped like GitHub's example payloads. Afterwards Redis must
hold exactly what was sent: every job completed, every pool set empty.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis

from harness.webhook_client import FIXTURES, json_delivery_headers, wsgi_environ
from webhooks.keys import Keys

if TYPE_CHECKING:
    from harness.servers import Gunicorn

BENCH = Path(__file__).resolve().parent
TEMPLATE = FIXTURES / "workflow_job.queued.payload.json"
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
    latencies: list[float]  # seconds, from the Python client
    p50_ms: float | None = None  # from wrk, which keeps its own histogram
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return {0.50: self.p50_ms, 0.99: self.p99_ms}[q] or 0.0
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
    requests = [wire(base_url, delivery) for delivery in batch]

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


def wire(base_url: str, delivery: Delivery) -> bytes:
    """The delivery as the raw bytes of an HTTP/1.1 request on a connection of its own."""
    url = urlsplit(base_url)
    head = f"POST / HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nConnection: close\r\n"
    head += f"Content-Length: {len(delivery.body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in delivery.headers.items())
    return head.encode() + b"\r\n" + delivery.body


def send_wrk(base_url: str, batch: list[Delivery], concurrency: int, seconds: int) -> Figures:
    """POST deliveries from `batch`, in order, for `seconds` with wrk: `concurrency`
    connections over two threads, each delivery at most once (the batch must outlast the run).

    The rate, errors and latency percentiles are wrk's own (latency from a request's first byte
    written to its answer); they reach this process as one JSON line from
    bench/wrk_deliveries.lua. Deliveries in flight when the time is up are not counted.
    """
    work = Path(tempfile.mkdtemp(prefix="runnerhub-wrk-"))
    try:
        with open(work / "requests", "wb") as requests:
            for delivery in batch:
                request = wire(base_url, delivery)
                requests.write(b"%d\n" % len(request) + request)
        threads = min(2, concurrency)
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
             "-s", str(BENCH / "wrk_deliveries.lua"), base_url + "/", "--",
             str(work / "requests"), str(threads)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        line = next(text for text in done.stdout.splitlines() if text.startswith("{"))
    except StopIteration:
        raise RuntimeError(f"wrk gave no figures:\n{done.stdout}\n{done.stderr}") from None
    figures = json.loads(line)
    if figures["wrapped"]:
        raise RuntimeError(f"wrk ran out of deliveries (raise --jobs or lower --seconds): {figures}")
    return Figures(
        figures["requests"], figures["refused"] + figures["socket_errors"], figures["seconds"],
        [], p50_ms=figures["p50_ms"], p99_ms=figures["p99_ms"],
    )  # fmt: skip


def interleaved(first_id: int, jobs: int, secret: str, block: int = 100) -> list[Delivery]:
    """Queued and completed deliveries of `jobs` jobs, a block of queued then the same jobs'
    completed: whatever prefix a timed run sends is half queued, half completed."""
    made = []
    for start in range(first_id, first_id + jobs, block):
        count = min(block, first_id + jobs - start)
        made += deliveries(start, count, "queued", secret)
        made += deliveries(start, count, "completed", secret)
    return made


def verify(redis_url: str, env: str, sent: list[Delivery]) -> list[str]:
    """What Redis should hold and does not: every job completed, every pool set empty."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline(transaction=False)
    for delivery in sent:
        pipe.hget(Keys(env).job(delivery.job_id), "status")
    statuses = pipe.execute()
    problems = [f"job {d.job_id} is {s}" for d, s in zip(sent, statuses, strict=True) if s != "completed"]
    for owner_id in sorted({d.owner_id for d in sent}):
        left = client.scard(Keys(env).pool_jobs(owner_id, POOL))
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
    merged = merge(figures)
    return Figures(merged.requests, merged.errors + len(problems), merged.seconds,
                   merged.latencies, merged.p50_ms, merged.p99_ms)  # fmt: skip


def merge(runs: list[Figures]) -> Figures:
    """The runs as one. wrk's histograms cannot be merged here: its percentiles are then the
    mean of the runs' percentiles, weighted by their requests."""
    requests = sum(f.requests for f in runs)
    latencies = [t for f in runs for t in f.latencies]
    p50 = p99 = None
    if not latencies:
        p50 = sum((f.p50_ms or 0) * f.requests for f in runs) / requests
        p99 = sum((f.p99_ms or 0) * f.requests for f in runs) / requests
    return Figures(requests, sum(f.errors for f in runs), sum(f.seconds for f in runs),
                   latencies, p50, p99)  # fmt: skip


HEADER = f"{'target':<10} {'requests':>8} {'errors':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"


def redis_script_usec(client: redis.Redis) -> tuple[int, int]:
    """(calls, microseconds) of EVALSHA in INFO commandstats: each delivery of the benchmark is
    one script call, whose time includes the commands it runs."""
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def server_cpu(server: "Gunicorn") -> float:
    """CPU seconds (user and system) used so far by a gunicorn's workers, from /proc."""
    ticks = 0
    for pid in server.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def compare(args: argparse.Namespace) -> None:
    from harness.redis_server import RedisServer
    from harness.servers import Gunicorn

    if args.client == "wrk" and shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk), or use --client python")
    secret = "bench-webhook-secret-0123456789abcdef"
    store = RedisServer().start()
    # Sync workers for both, as the limit app is specified; production runs gthread workers.
    runnerhub = Gunicorn(
        store.url, args.workers, worker_class="sync",
        env={"GITHUB_WEBHOOK_SECRET": secret, "RUNNERHUB_ENV": "prod", "LOG_LEVEL": "INFO"},
    )  # fmt: skip
    if args.against:
        # Another checkout's RunnerHub in the limit's place, under its own keys: what a change
        # costs, side by side.
        limit = Gunicorn(
            store.url, args.workers, worker_class="sync", root=Path(args.against).resolve(),
            env={"GITHUB_WEBHOOK_SECRET": secret, "RUNNERHUB_ENV": "staging", "LOG_LEVEL": "INFO"},
        )  # fmt: skip
    else:
        limit = Gunicorn(
            store.url, args.workers,
            env={"SECRET": secret, "ENVP": "staging"}, worker_class="sync",
            app="bench.limit_app:app",
        )  # fmt: skip
    second = "against" if args.against else "limit"
    targets = {"runnerhub": (runnerhub, "prod"), second: (limit, "staging")}
    results: dict[str, list[Figures]] = {name: [] for name in targets}
    script: dict[str, list[tuple[int, int]]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    probe = store.client()
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
                batch = interleaved(next_id, args.jobs, secret) if args.client == "wrk" else []
                probe.config_resetstat()
                used = server_cpu(server)
                if args.client == "wrk":
                    figures = send_wrk(server.url, batch, args.concurrency, args.seconds)
                else:
                    figures = run(server.url, store.url, env, secret, next_id, args.jobs,
                                  args.concurrency)  # fmt: skip
                cpu[name].append(server_cpu(server) - used)
                results[name].append(figures)
                script[name].append(redis_script_usec(probe))
                print(f"round {round_no + 1} {figures.line(name)}", file=sys.stderr)
                next_id += args.jobs
    finally:
        runnerhub.stop()
        limit.stop()
        store.cleanup()
    print(f"gunicorn: {args.workers} sync workers each; {args.concurrency} concurrent "
          f"connections ({args.client} client); {args.rounds} alternating rounds of {args.jobs} "
          f"jobs (queued + completed); payload {len(deliveries(1, 1, 'queued', 'x')[0].body)} "
          f"bytes; one Redis")  # fmt: skip
    print(HEADER + f" {'redis us':>9} {'worker cpu us':>14}")
    merged = {name: merge(runs) for name, runs in results.items()}
    for name, figures in merged.items():
        calls = sum(c for c, _ in script[name])
        usec = sum(u for _, u in script[name])
        worker = sum(cpu[name]) / figures.requests * 1e6
        print(figures.line(name) + f" {usec / max(calls, 1):>9.1f} {worker:>14.0f}")
    rh, lim = merged["runnerhub"], merged[second]
    print(f"ratio runnerhub/{second}: throughput {rh.rate / lim.rate:.2f}, "
          f"p99 {rh.percentile(0.99) / lim.percentile(0.99):.2f}")
    per_round = [a.rate / b.rate for a, b in zip(results["runnerhub"], results[second])]
    print("throughput ratio per round: " + ", ".join(f"{r:.2f}" for r in per_round))


def in_process(args: argparse.Namespace) -> None:
    """Python CPU and Redis time per delivery, and Redis memory per retained completed job,
    with no HTTP server: each WSGI application called directly, one thread, one Redis."""
    from harness.redis_server import RedisServer

    secret = "bench-webhook-secret-0123456789abcdef"
    store = RedisServer().start()
    work = Path(tempfile.mkdtemp(prefix="runnerhub-inprocess-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="runnerhub.settings", DEBUG="0", SECRET_KEY="bench-" + "x" * 50,
        RUNNERHUB_ENV="prod", GITHUB_WEBHOOK_SECRET=secret, REDIS_URL=store.url,
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0", LOG_LEVEL="INFO",
        SECRET=secret, ENVP="staging",
    )  # fmt: skip
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # WhiteNoise warns that nothing was collected: no page is served here.
    warnings.filterwarnings("ignore", message="No directory at")
    import importlib

    runnerhub = importlib.import_module(django.conf.settings.WSGI_APPLICATION.rpartition(".")[0])
    from bench import limit_app  # reads SECRET, ENVP and REDIS_URL when imported
    targets = {"runnerhub": (runnerhub.application, "prod"), "limit": (limit_app.app, "staging")}
    probe = store.client()
    try:
        print(f"in-process, one thread: {args.jobs} jobs (queued + completed) per target and "
              f"round, {args.rounds} alternating rounds; the WSGI application called directly")
        print(f"{'target':<10} {'python cpu us':>14} {'wall us':>8} {'redis us':>9}")
        first_id = 1
        for name, (app, _) in targets.items():  # warm up
            _call_all(app, deliveries(first_id, 200, "queued", secret))
            first_id += 200
        figures: dict[str, list[tuple[float, float, int, int]]] = {name: [] for name in targets}
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
            for name in order:
                app, env = targets[name]
                batch = (deliveries(first_id, args.jobs, "queued", secret)
                         + deliveries(first_id, args.jobs, "completed", secret))  # fmt: skip
                first_id += args.jobs
                probe.config_resetstat()
                cpu, wall = _call_all(app, batch)
                calls, usec = redis_script_usec(probe)
                figures[name].append((cpu, wall, calls, usec))
        for name, runs in figures.items():
            count = sum(c for _, _, c, _ in runs)
            cpu = sum(r[0] for r in runs) / count * 1e6
            wall = sum(r[1] for r in runs) / count * 1e6
            usec = sum(r[3] for r in runs) / count
            print(f"{name:<10} {cpu:>14.0f} {wall:>8.0f} {usec:>9.1f}")
        _memory(runnerhub.application, probe, secret, args.jobs)
    finally:
        store.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def _call_all(app: object, batch: list[Delivery]) -> tuple[float, float]:
    """Deliver `batch` through `app` in this thread: (CPU seconds of this thread, wall seconds).
    Redis runs in a process of its own, so its time is not in the CPU figure."""
    environs = [wsgi_environ(body=delivery.body, headers=delivery.headers) for delivery in batch]

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"delivery answered {status}")

    cpu, wall = time.thread_time(), time.perf_counter()
    for environ in environs:
        result = app(environ, start_response)
        b"".join(result)
        if hasattr(result, "close"):  # as a server must (PEP 3333); RunnerHub ends its request there
            result.close()
    return time.thread_time() - cpu, time.perf_counter() - wall


def _memory(app: object, client: redis.Redis, secret: str, jobs: int) -> None:
    """Redis memory per retained completed job: `jobs` jobs delivered queued then completed
    into an empty Redis, everything they leave behind (job hashes, pool and history entries,
    the events stream, the delivery log, the counters) over the number of jobs."""
    client.flushall()
    before = client.info("memory")["used_memory"]
    batch = deliveries(10_000_000, jobs, "queued", secret) + deliveries(10_000_000, jobs, "completed", secret)
    _call_all(app, batch)
    after = client.info("memory")["used_memory"]
    k = Keys("prod")
    parts = {
        "job hash": client.memory_usage(k.job(10_000_000)) or 0,
        "events stream": (client.memory_usage(k.events, samples=0) or 0) / jobs,
        "delivery log": (client.memory_usage(k.deliveries, samples=0) or 0) / jobs,
        "history": (client.memory_usage(k.history, samples=0) or 0) / jobs,
    }
    print(f"redis memory per retained completed job ({jobs} jobs, 2 deliveries each): "
          f"{(after - before) / jobs:.0f} bytes; of which "
          + ", ".join(f"{name} {size:.0f}" for name, size in parts.items()))


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
    from harness.redis_server import RedisServer
    from harness.servers import Gunicorn

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
    parser.add_argument("--jobs", type=int,
                        help="jobs per target and round (default 2000; 15000 with wrk, which "
                             "must not run out of them within --seconds)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--compare", action="store_true", help="RunnerHub against the limit app")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="with --compare: against the RunnerHub of another checkout (a git "
                             "worktree of another commit) in the limit's place")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk",
                        help="with --compare: the HTTP client (default wrk)")
    parser.add_argument("--seconds", type=int, default=3,
                        help="with --compare and wrk: seconds per target and round")
    parser.add_argument("--in-process", action="store_true",
                        help="CPU, Redis time and memory per delivery, without HTTP")
    parser.add_argument("--replica-ack", action="store_true",
                        help="RunnerHub waiting for a replica's acknowledgement, and not")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="with --compare: gunicorn workers")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare: alternating rounds")
    parser.add_argument("--first-id", type=int, default=int(time.time()) * 1000)
    args = parser.parse_args()
    if args.jobs is None:
        args.jobs = 15000 if args.compare and args.client == "wrk" else 2000
    if args.compare:
        compare(args)
        return
    if args.in_process:
        in_process(args)
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
