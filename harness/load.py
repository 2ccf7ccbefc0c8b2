"""Load on loopback for the availability tests and bench/starvation.py: a filled history, page
and login hammers, forwarded matrices, and deliveries timed one by one. Every loop is bounded
(a request count and a stop event) and stops by itself."""
import http.client
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

import redis

from harness.webhook_client import json_delivery_headers
from webhooks.keys import Keys, pool_member

POOL = "scw-em-rv1"
_ids = itertools.count(int(time.time() * 1000) % 10**9 * 100)  # fresh job ids each run


def queued_body(owner_id: int = 81_000_001) -> bytes:
    """A queued `workflow_job` delivery of a new job, shaped like GitHub's (the fields
    RunnerHub reads), without Django: benches use it too."""
    job_id = next(_ids)
    payload = {
        "action": "queued",
        "workflow_job": {"id": job_id, "run_id": job_id // 4, "run_attempt": 1,
                         "name": "build (riscv64)", "workflow_name": "CI", "status": "queued",
                         "labels": ["ubuntu-24.04-riscv"], "runner_name": None,
                         "html_url": f"https://github.com/o/r/actions/runs/1/job/{job_id}"},
        "repository": {"id": 600_000_000 + owner_id % 1000, "name": "project",
                       "full_name": "riscv-org/project", "private": False,
                       "owner": {"id": owner_id, "login": "riscv-org", "type": "Organization"}},
        "installation": {"id": 41_000_001},
    }  # fmt: skip
    return json.dumps(payload).encode()


def fill_history(client: redis.Redis, jobs: int, pending_every: int = 100, days: int = 10,
                 env: str = "prod", first_id: int = 70_000_000_000) -> None:  # fmt: skip
    """`jobs` jobs written straight into Redis as the delivery script leaves them, spread over
    the last `days` days: all completed but one in `pending_every`, which is pending."""
    now = time.time()
    k = Keys(env)
    pipe = client.pipeline(transaction=False)
    for n in range(jobs):
        job_id = first_id + n
        created = now - (n / jobs) * days * 86400
        owner = 80_000_000 + n % 20
        pending = n % pending_every == 0
        fields = {
            "job_id": job_id, "status": "pending" if pending else "completed",
            "entity_id": owner, "entity_type": "organization", "entity_name": f"org-{n % 20}",
            "labels": json.dumps(["ubuntu-24.04-riscv"]), "k8s_pool": POOL,
            "k8s_image": "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest",
            "repo": f"org-{n % 20}/project-{n % 7}", "private": 0, "installation_id": 1,
            "html_url": f"https://github.com/org/project/actions/runs/1/job/{job_id}",
            "job_name": "build (riscv64)", "workflow_name": "CI", "run_id": job_id // 4,
            "run_attempt": 1, "created_at": f"{created:.3f}",
            "started_at": "" if pending else f"{created + 30:.3f}",
            "completed_at": "" if pending else f"{created + 300:.3f}",
            "conclusion": "" if pending else "success", "runner_name": "",
        }  # fmt: skip
        pipe.hset(k.job(job_id), mapping=fields)
        pipe.zadd(k.history, {job_id: created})
        if pending:
            pipe.sadd(k.pool_jobs(owner, POOL), job_id)
            pipe.sadd(k.pools, pool_member(owner, POOL))
        if n % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def request(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None,
            timeout: float = 30) -> tuple[int, bytes, http.client.HTTPResponse]:  # fmt: skip
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


class Hammer:
    """`clients` threads, each sending `next_request()`'s requests in a loop as fast as they
    are answered, until `stop()` or `max_requests` each; the answers are counted by status."""

    def __init__(self, clients: int, send: Callable[[int, int], int], max_requests: int) -> None:
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(n, send, max_requests), daemon=True)
            for n in range(clients)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self, client: int, send: Callable[[int, int], int], max_requests: int) -> None:
        for attempt in range(max_requests):
            if self._stopping.is_set():
                return
            try:
                status = send(client, attempt)
            except OSError:
                status = 0
            with self._lock:
                self.statuses[status] += 1

    def stop(self) -> Counter[int]:
        self._stopping.set()
        for thread in self._threads:
            thread.join(60)
        return self.statuses


def history_pages(url: str) -> Callable[[int, int], int]:
    """The filtered page of the issue, its per_page varied so that no cache can answer it."""

    def send(client: int, attempt: int) -> int:
        per_page = 500 - (client * 7 + attempt) % 200
        path = f"/history.json?status=pending&per_page={per_page}"
        return request(url, "GET", path)[0]

    return send


def admin_logins(url: str) -> Callable[[int, int], int]:
    """Wrong passwords for the admin login, with a valid CSRF token: a PBKDF2 hash each."""
    tokens: dict[int, tuple[str, str]] = {}

    def send(client: int, attempt: int) -> int:
        if client not in tokens:
            status, page, response = request(url, "GET", "/admin/login/")
            if status != 200:
                return status
            cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
            token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            if not token:
                return status
            tokens[client] = (cookie, token[1].decode())
        cookie, token = tokens[client]
        form = urlencode({"csrfmiddlewaretoken": token, "username": f"nobody-{client}",
                          "password": "not-the-password", "next": "/admin/"}).encode()  # fmt: skip
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                   "Referer": url + "/admin/login/"}  # fmt: skip
        return request(url, "POST", "/admin/login/", form, headers)[0]

    return send


def forwarded_matrix(url: str, owner_id: int) -> Callable[[int, int], int]:
    """One job of a matrix of a staging account per request, as GitHub queues them."""

    def send(client: int, attempt: int) -> int:
        body = queued_body(owner_id)
        return request(url, "POST", "/", body, json_delivery_headers(body), timeout=15)[0]

    return send


def timed_deliveries(url: str, count: int, concurrency: int = 4) -> list[tuple[int, float]]:
    """`count` signed deliveries of new jobs, `concurrency` at a time: (status, seconds) each,
    from the connection to the last byte of the answer."""

    def one(_: int) -> tuple[int, float]:
        body = queued_body()
        headers = json_delivery_headers(body)
        started = time.perf_counter()
        try:
            status = request(url, "POST", "/", body, headers, timeout=15)[0]
        except OSError:
            status = 0
        return status, time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))
