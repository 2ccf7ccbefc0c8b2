"""Screenshots of /usage and /history for the README: docs/usage.png and docs/history.png.

Starts its own redis-server and gunicorn (production settings), fills them with a few hundred
jobs through real signed deliveries, then has headless Chromium (`make browser`) take full-page
screenshots.

Deliveries are recorded at the time they arrive, so a fill made in a minute would show a single
day and waits of milliseconds. To show what a fortnight looks like, this script then moves the
demo jobs' timestamps (and their history scores) back over the past 14 days, directly in the
throwaway Redis it started. Nothing else is touched.

    .venv/bin/python -m docs.reports_screenshots
"""
import json
import random
import time
import urllib.request
from pathlib import Path

from harness.browser import headless_chromium
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import TEST_SECRET, json_delivery_headers
from webhooks.keys import Keys

ROOT = Path(__file__).resolve().parent.parent

ACCOUNTS = [
    ("riscv-ports", 81_000_001, "Organization", ["gcc-ci", "glibc-tests", "openblas", "zstd"]),
    ("rise-demo", 81_000_002, "Organization", ["llvm-riscv", "kernel-builds"]),
    ("pyriscv", 81_000_003, "Organization", ["numpy-wheels", "cpython-ci"]),
    ("alice", 81_000_004, "User", ["dotfiles-ci"]),
]
PRIVATE = {"kernel-builds"}
LABELS = [
    ["ubuntu-24.04-riscv"],
    ["ubuntu-24.04-riscv"],
    ["ubuntu-24.04-riscv"],
    ["ubuntu-26.04-riscv"],
    ["ubuntu-24.04-riscv-2xlarge"],
    ["ubuntu-24.04-riscv-rvv"],
]
JOBS = ["build (rv64gc)", "test (rv64gcv)", "lint", "wheels (cp313)", "check", "bench"]
KEYS = Keys("prod")
random.seed(4)


def deliver(
    url: str, action: str, job: dict, event: str = "workflow_job", secret: str = TEST_SECRET
) -> None:
    body = json.dumps({"action": action, **job} if event == "workflow_job" else job).encode()
    headers = json_delivery_headers(body, event, secret)
    request = urllib.request.Request(url + "/", data=body, method="POST", headers=headers)
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError:
        pass  # the refused deliveries are part of the demo


def job_payload(number: int, labels: list[str] | None = None) -> dict:
    login, owner_id, kind, repos = random.choice(ACCOUNTS)
    name = random.choice(repos)
    repo_id = owner_id * 10 + repos.index(name)
    job_id = 27_000_000_000 + number
    return {
        "workflow_job": {
            "id": job_id, "run_id": 13_000_000_000 + number // 3, "run_attempt": 1,
            "name": random.choice(JOBS), "workflow_name": random.choice(["CI", "Nightly", "Release"]),
            "labels": labels or random.choice(LABELS), "runner_name": None, "conclusion": None,
            "html_url": f"https://github.com/{login}/{name}/actions/runs/{13_000_000_000 + number // 3}/job/{job_id}",
        },
        "repository": {
            "id": repo_id, "name": name, "full_name": f"{login}/{name}", "private": name in PRIVATE,
            "owner": {"id": owner_id, "login": login, "type": kind},
        },
        "installation": {"id": 55_000_000 + owner_id % 100},
    }  # fmt: skip


def with_runner(payload: dict, action: str, conclusion: str | None = None) -> dict:
    job = {
        **payload["workflow_job"],
        "runner_name": f"rv-runner-{payload['workflow_job']['id'] % 997}",
    }
    if conclusion:
        job["conclusion"] = conclusion
    return {**payload, "workflow_job": job}


def backdate(
    store, job_id: int, created: float, started: float | None, completed: float | None
) -> None:
    fields = {"created_at": f"{created:.3f}"}
    if started is not None:
        fields["started_at"] = f"{started:.3f}"
    if completed is not None:
        fields["completed_at"] = f"{completed:.3f}"
    store.hset(KEYS.job(job_id), mapping=fields)
    store.zadd(KEYS.history, {str(job_id): created})


def fill(url: str, store) -> None:
    now = time.time()
    for number in range(320):
        payload = job_payload(number)
        deliver(url, "queued", payload)
        deliver(url, "in_progress", with_runner(payload, "in_progress"))
        conclusion = random.choices(["success", "failure", "cancelled"], [0.82, 0.13, 0.05])[0]
        deliver(url, "completed", with_runner(payload, "completed", conclusion))
        # Busier on weekdays and lately; waits mostly short, sometimes long.
        created = now - random.uniform(0.1, 14) ** 1.15 * 86400 / 14**0.15
        wait = random.choice([20, 45, 90, 180, 600, 1800]) * random.uniform(0.5, 1.5)
        run = random.uniform(120, 3600)
        if number < 20:  # some finished within the last hours, beside the active ones
            created, wait, run = (
                now - random.uniform(1800, 10800),
                random.uniform(15, 240),
                random.uniform(60, 1200),
            )
        backdate(
            store, payload["workflow_job"]["id"], created, created + wait, created + wait + run
        )
    for number in range(320, 356):
        payload = job_payload(number)
        deliver(url, "queued", payload)
        created = now - random.choice([40, 300, 900, 2400, 4300])
        started = None
        if number % 3:
            deliver(url, "in_progress", with_runner(payload, "in_progress"))
            started = min(created + random.uniform(30, 300), now - 20)
        backdate(store, payload["workflow_job"]["id"], created, started, None)
    # Workers as the scheduler records them: one running a job, one idle, one still starting.
    for login, owner_id, kind, repos in ACCOUNTS:
        if kind != "Organization":
            continue
        for n, (state, age, since) in enumerate(
            (("running", 1500, 1300), ("running", 700, 650), ("launched", 45, 40))
        ):
            name = f"runnerhub-prod-{owner_id % 1000:03d}{n}a7c9e"
            store.sadd(KEYS.pool_workers(owner_id, "scw-em-rv1"), name)
            store.hset(
                KEYS.worker(name),
                mapping={
                    "state": state, "created_at": now - age, "updated_at": now - since,
                    "label_key": "ubuntu-24.04-riscv", "k8s_pool": "scw-em-rv1",
                    "job_id": str(30_000_000_000 + owner_id % 1000 * 10 + n) if n == 0 else "",
                },
            )  # fmt: skip
    # The delivery log's other stories: a job no mapping serves, a wrong secret, a ping.
    deliver(url, "queued", job_payload(999, labels=["ubuntu-latest"]))
    deliver(url, "queued", job_payload(998), secret="an-old-rotated-secret")
    deliver(url, "", {"zen": "Design for failure."}, event="ping")
    deliver(url, "queued", job_payload(320))


def main() -> None:
    redis_server = RedisServer().start()
    try:
        with Gunicorn(redis_server.url, workers=2) as server, headless_chromium() as browser:
            fill(server.url, redis_server.client())
            for name, path in (("usage", "/usage"), ("history", "/history?per_page=30")):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(server.url + path)
                page.screenshot(path=str(ROOT / "docs" / f"{name}.png"), full_page=True)
                page.close()
                print(f"docs/{name}.png")
    finally:
        redis_server.cleanup()


if __name__ == "__main__":
    main()
