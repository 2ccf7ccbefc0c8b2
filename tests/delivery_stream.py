"""A steady stream of signed deliveries against a running server, and what Redis must hold after.

For the fault tests: deliveries go out from several threads while something breaks; every
answer (or the lack of one) is kept, so the test can check RunnerHub's promise: a 2xx means the
job is recorded, anything else is a failure GitHub shows and that succeeds when redelivered.
"""
import http.client
import json
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis

from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.webhook_client import json_delivery_headers

ENV = "prod"
RANK = {"queued": 1, "pending": 1, "in_progress": 2, "running": 2, "completed": 3}
# Every field a job hash gets when it is created (DESIGN.md, the job's HASH).
JOB_FIELDS = frozenset(
    {
        "status", "job_id", "entity_id", "entity_type", "entity_name", "labels", "k8s_pool",
        "k8s_image", "created_at", "repo", "installation_id", "html_url", "job_name",
        "workflow_name", "run_id", "run_attempt", "private", "started_at", "completed_at",
        "conclusion", "runner_name",
    }
)  # fmt: skip
# Redis's own timeouts (settings: 1 s to connect, 2 s for a reply) and some room: an answer that
# takes longer than this is a hang, and the delivery is counted as unanswered.
ANSWER_TIMEOUT_SECONDS = 1 + 2 + 3


@dataclass(frozen=True)
class Sent:
    """One delivery and what came back: `status` None when no HTTP answer came at all (the
    connection was reset or the answer took longer than ANSWER_TIMEOUT_SECONDS)."""

    payload: dict[str, Any]
    status: int | None
    body: str
    error: str = ""
    sent_at: float = 0.0
    seconds: float = 0.0

    @property
    def action(self) -> str:
        return self.payload["action"]

    @property
    def job_id(self) -> int:
        return self.payload["workflow_job"]["id"]


def post(port: int, payload: dict[str, Any], timeout: float = ANSWER_TIMEOUT_SECONDS) -> Sent:
    """POST one signed delivery on a fresh connection, as GitHub does."""
    body = json.dumps(payload).encode()
    headers = json_delivery_headers(body)
    sent_at = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read().decode()
        return Sent(payload, response.status, answer, "", sent_at, time.monotonic() - sent_at)
    except (OSError, http.client.HTTPException) as exc:
        return Sent(payload, None, "", type(exc).__name__, sent_at, time.monotonic() - sent_at)
    finally:
        connection.close()


class DeliveryStream:
    """`clients` threads, each taking the next job and delivering its `queued` then its
    `completed`, one delivery every `pause` seconds, until stopped."""

    def __init__(self, port: int, clients: int = 4, pause: float = 0.02, jobs: int = 5000):
        self.port = port
        self.pause = pause
        self.jobs: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        for _ in range(jobs):
            self.jobs.put(WorkflowJobPayloadFactory())
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> "DeliveryStream":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Sent]:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        return self.sent

    def answered(self, status: int, after: float = 0.0) -> int:
        with self._lock:
            return sum(1 for s in self.sent if s.status == status and s.sent_at >= after)

    def wait_for(self, status: int, count: int, after: float = 0.0, seconds: float = 60) -> None:
        """Wait until `count` deliveries sent after `after` were answered with `status`."""
        deadline = time.monotonic() + seconds
        while self.answered(status, after) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} deliveries answered {status}")
            time.sleep(0.05)

    def _client(self) -> None:
        while not self._stopping.is_set():
            try:
                queued = self.jobs.get_nowait()
            except queue.Empty:
                return
            for payload in (queued, same_job(queued, "completed", conclusion="success")):
                sent = post(self.port, payload)
                with self._lock:
                    self.sent.append(sent)
                time.sleep(self.pause)


def redeliver(port: int, failed: Iterable[Sent], clients: int = 8) -> list[Sent]:
    """Send the failed deliveries again, as an operator does from GitHub's delivery log: each
    job's in the order they were first sent."""
    by_job: dict[int, list[Sent]] = {}
    for sent in failed:
        by_job.setdefault(sent.job_id, []).append(sent)

    def again(attempts: list[Sent]) -> list[Sent]:
        return [post(port, sent.payload) for sent in attempts]

    with ThreadPoolExecutor(clients) as pool:
        return [sent for batch in pool.map(again, by_job.values()) for sent in batch]


def job_problems(client: redis.Redis, env: str = ENV) -> list[str]:
    """What is wrong with the jobs in Redis: a job hash without all its fields, a pending or
    running job missing from its pool set or history, a pool set holding a job that is not
    pending or running. Empty when every job is whole and every set agrees with it."""
    problems = []
    pipe = client.pipeline(transaction=False)
    keys = list(client.scan_iter(f"{env}:job:*", count=1000))
    for key in keys:
        pipe.hgetall(key)
    jobs = dict(zip(keys, pipe.execute()))
    members = {
        member: client.smembers(f"{env}:pool:{member}:jobs")
        for member in client.smembers(f"{env}:pools")
    }
    history = set(client.zrange(f"{env}:history", 0, -1))
    for key, job in jobs.items():
        job_id = key.rsplit(":", 1)[1]
        if missing := JOB_FIELDS - set(job):
            problems.append(f"job {job_id} lacks {sorted(missing)}")
            continue
        pool = f"{job['entity_id']}:{job['k8s_pool']}"
        active = job["status"] in ("pending", "running")
        in_pool = job_id in members.get(pool, set())
        if active != in_pool:
            problems.append(f"job {job_id} is {job['status']}; in its pool set: {in_pool}")
        if job_id not in history:
            problems.append(f"job {job_id} is not in the history")
    for pool, job_ids in members.items():
        for job_id in job_ids:
            status = jobs.get(f"{env}:job:{job_id}", {}).get("status")
            if status not in ("pending", "running"):
                problems.append(f"pool {pool} holds job {job_id}, which is {status}")
    return problems


def unrecorded(client: redis.Redis, sent: Iterable[Sent], env: str = ENV) -> list[str]:
    """Every delivery answered 2xx whose job Redis does not hold at that status or later."""
    acknowledged = [s for s in sent if s.status is not None and 200 <= s.status < 300]
    pipe = client.pipeline(transaction=False)
    for s in acknowledged:
        pipe.hget(f"{env}:job:{s.job_id}", "status")
    statuses = pipe.execute()
    return [
        f"{s.action} of job {s.job_id} was answered {s.status} but the job is {status}"
        for s, status in zip(acknowledged, statuses, strict=True)
        if status is None or RANK[status] < RANK[s.action]
    ]
