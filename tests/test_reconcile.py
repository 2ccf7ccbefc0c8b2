"""Converging with GitHub when deliveries were lost: failed deliveries redelivered, jobs
without news checked against GitHub's own record, all within a budget of the rate limit."""
import pytest

from harness.runner_world import World
from runners import store
from tests.scheduler_support import settle
from harness.webhook_client import post_to
from webhooks.keys import Keys

pytestmark = pytest.mark.django_db
KEYS = Keys("prod")


@pytest.fixture
def lossy(world: World, wsgi_application) -> World:
    """Deliveries leave through the fake GitHub's webhook, which can lose and redeliver them."""

    def post(body: bytes, headers: dict[str, str]) -> int:
        extra = {name: value for name, value in headers.items() if name != "Content-Type"}
        return post_to(wsgi_application, body, "application/json", extra).status_code

    world.through_github(post)
    return world


def status_of(redis_client, job) -> str | None:
    return redis_client.hget(KEYS.job(job.job_id), "status")


def delivery_log(redis_client) -> list[dict]:
    return [fields for _, fields in redis_client.xrange(KEYS.deliveries)]


def test_dropped_deliveries_are_redelivered_and_end_recorded(scheduler, lossy, redis_client):
    org = lossy.account("lossy", 3001)
    kept = lossy.queue(org)
    lossy.lose = {"queued": 2}
    dropped = [lossy.queue(org), lossy.queue(org)]
    assert [status_of(redis_client, job) for job in dropped] == [None, None]

    report = scheduler.run_pass()

    assert sorted(report.reconciled.redelivered) == sorted(
        d["guid"] for d in lossy.github.deliveries() if d["status_code"] == 0
    )
    assert len(lossy.github.redeliveries) == 2
    assert [status_of(redis_client, job) for job in dropped] == ["pending", "pending"]
    asked = [entry for entry in delivery_log(redis_client) if entry["outcome"] == "redelivery"]
    assert len(asked) == 2 and {entry["http_status"] for entry in asked} == {"0"}
    assert store.read_stats()["redeliveries"] == 2
    settle(scheduler, lossy)
    assert all(job.status == "in_progress" for job in [kept, *dropped])
    # Redelivered and answered: never asked for again.
    scheduler.last_redelivery = 0
    assert scheduler.run_pass().reconciled.redelivered == []
    assert len(lossy.github.redeliveries) == 2


def test_a_delivery_is_not_redelivered_in_a_loop(scheduler, lossy, redis_client, settings):
    org = lossy.account("still-down", 3002)
    lossy.lose = {"queued": 1}
    job = lossy.queue(org)
    lossy.github.hook, hook = (lambda body, headers: 503), lossy.github.hook  # RunnerHub 503s

    for _ in range(6):
        scheduler.last_redelivery = 0
        scheduler.run_pass()

    # Each redelivery failed again; after the third RunnerHub stops asking.
    assert len(lossy.github.redeliveries) == 3
    lossy.github.hook = hook
    assert status_of(redis_client, job) is None


def test_a_job_whose_queued_and_completed_were_both_lost_never_gets_a_runner_and_ends_completed(
    scheduler, lossy, redis_client
):
    org = lossy.account("cancelled", 3003)
    lossy.lose = {"queued": 1, "completed": 1}
    job = lossy.queue(org)
    lossy.cancel(job)
    assert status_of(redis_client, job) is None

    reports = settle(scheduler, lossy)

    assert status_of(redis_client, job) == "completed"
    assert redis_client.hget(KEYS.job(job.job_id), "conclusion") == "cancelled"
    assert not any(report.started for report in reports)
    assert lossy.github.count("POST", r".*/generate-jitconfig") == 0
    assert lossy.leftovers() == {"pods": [], "secrets": [], "runners": []}


@pytest.mark.parametrize("known", [True, False])
def test_a_job_completed_on_github_but_pending_here_is_completed_in_one_round_and_its_runner_stopped(
    scheduler, lossy, redis_client, settings, known
):
    settings.REDELIVER_FAILED = False  # only reconciliation can tell
    org = lossy.account("stale", 3004)
    job = lossy.queue(org)
    settle(scheduler, lossy, assign=False)
    [worker] = store.read_workers()
    lossy.lose = {"completed": 1}
    lossy.cancel(job)
    if not known:
        lossy.github.remove_job(job.job_id)  # GitHub no longer knows it: 404
    redis_client.hset(KEYS.job(job.job_id), "created_at", "1")  # no news for long
    scheduler.last_reconcile = 0

    report = scheduler.run_pass()

    assert report.reconciled.applied == {str(job.job_id): "completed"}
    record = redis_client.hgetall(KEYS.job(job.job_id))
    assert record["status"] == "completed"
    assert record["conclusion"] == ("cancelled" if known else "unknown")
    assert not redis_client.sismember(KEYS.pool_jobs(3004, "scw-em-rv1"), str(job.job_id))
    [entry] = [e for e in delivery_log(redis_client) if e["event"] == "reconcile"]
    assert (entry["outcome"], entry["action"], entry["job_id"]) == ("reconciled", "completed", str(job.job_id))
    [(_, transition)] = [e for e in redis_client.xrange(KEYS.events) if e[1]["status"] == "completed"]
    assert transition["previous"] == "pending"
    # Its runner goes in the same pass, registration first.
    assert report.stopped == [worker.name]
    assert lossy.leftovers() == {"pods": [], "secrets": [], "runners": []}
    assert store.worker_field(worker.name, "reason") == "idle"


def test_a_late_delivery_never_moves_a_reconciled_job_back(scheduler, lossy, redis_client, settings):
    settings.REDELIVER_FAILED = False
    org = lossy.account("late", 3005)
    job = lossy.queue(org)
    lossy.lose = {"completed": 1}
    lossy.cancel(job)
    redis_client.hset(KEYS.job(job.job_id), "created_at", "1")
    scheduler.last_reconcile = 0
    scheduler.run_pass()
    assert status_of(redis_client, job) == "completed"

    lossy._send({**job.payload, "action": "queued"})  # the queued delivery, once more, late

    assert status_of(redis_client, job) == "completed"


def test_with_a_low_rate_limit_reconciliation_stops_at_its_budget_and_runners_still_start(
    make_scheduler, lossy, redis_client, settings
):
    settings.REDELIVER_FAILED = False
    scheduler = make_scheduler()
    assert scheduler.lead()
    lossy.github.rate_limit = 100  # calls an hour: reconciliation may spend 10 of them
    settings.RECONCILE_BUDGET_PERCENT = 10
    org = lossy.account("tight", 3006)
    jobs = [lossy.queue(org) for _ in range(20)]
    for job in jobs:
        redis_client.hset(KEYS.job(job.job_id), "created_at", "1")  # all without news for long
    scheduler.last_reconcile = 0

    report = scheduler.run_pass()

    reconciled = report.reconciled
    assert len(reconciled.checked) == 10 and reconciled.over_budget == 10
    assert lossy.github.count("GET", r"/repos/.*/actions/jobs/\d+") == len(reconciled.checked)
    settle(scheduler, lossy)
    assert all(job.status == "in_progress" for job in jobs)
    assert len(lossy.runner_pods()) == 20
    assert not [call for call in lossy.github.calls if call[2] in (403, 429)]
    assert store.read_rate_limits()[str(org.installation_id)]["remaining"] > 0
