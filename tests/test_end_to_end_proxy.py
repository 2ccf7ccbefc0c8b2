"""Production and staging as two real RunnerHub processes sharing one Redis."""
import os
from collections.abc import Iterator

import pytest
import redis

from harness.factories import WorkflowJobPayloadFactory
from harness.servers import Gunicorn
from harness.webhook_client import post_delivery

# The server's database holds what the test depends on: run on PostgreSQL too.
pytestmark = [pytest.mark.slow, pytest.mark.database]

STAGING_ORG = 9_200_000_001


@pytest.fixture
def staging() -> Iterator[Gunicorn]:
    with Gunicorn(os.environ["REDIS_URL"], workers=1, env={"RUNNERHUB_ENV": "staging"}) as server:
        yield server


@pytest.fixture
def production(staging: Gunicorn) -> Iterator[Gunicorn]:
    # Staging by another name than production's own (check runnerhub.E008), on loopback too.
    env = {"RUNNERHUB_ENV": "prod", "STAGING_URL": f"http://localhost:{staging.port}/",
           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "INFO"}  # fmt: skip
    with Gunicorn(os.environ["REDIS_URL"], workers=1, env=env) as server:
        server.shell(
            "from webhooks.models import Account; "
            f"account = Account(github_id={STAGING_ORG}, login='riscv-staging', staging=True); "
            "account.full_clean(); account.save()"
        )
        yield server


def keys(redis_client: redis.Redis, env: str) -> set[str]:
    """The keys a deployment wrote, but its config version (moved by account saves) and its
    delivery log and counters (which record forwarded deliveries too)."""
    logs = {f"{env}:config:version", f"{env}:deliveries", f"{env}:stats"}
    return set(redis_client.keys(f"{env}:*")) - logs


def test_production_hands_staging_accounts_to_staging_and_keeps_the_others(
    production: Gunicorn, staging: Gunicorn, redis_client: redis.Redis
) -> None:
    staged = WorkflowJobPayloadFactory(repository__owner__id=STAGING_ORG)
    staged_id = staged["workflow_job"]["id"]

    status, body, _ = post_delivery(production.url, staged)

    assert (status, body) == (200, f"stored: job {staged_id} pending in pool scw-em-rv1")
    assert redis_client.hget(f"staging:job:{staged_id}", "k8s_pool") == "scw-em-rv1"
    assert redis_client.smembers(f"staging:pool:{STAGING_ORG}:scw-em-rv1:jobs") == {str(staged_id)}
    assert keys(redis_client, "prod") == set()

    # Staging's own answer comes back, whatever it is: here its 400 for a broken payload.
    broken = WorkflowJobPayloadFactory(repository__owner__id=STAGING_ORG)
    del broken["workflow_job"]["id"]
    status, body, _ = post_delivery(production.url, broken)

    assert (status, body) == (400, "bad payload: workflow_job.id: missing or not an integer")
    assert redis_client.hget("staging:stats", "rejected:bad_payload") == "1"
    assert keys(redis_client, "prod") == set()

    # Unsigned: production refuses it and staging never hears of it.
    staging_log = redis_client.xlen("staging:deliveries")
    status, body, _ = post_delivery(
        production.url, WorkflowJobPayloadFactory(repository__owner__id=STAGING_ORG), secret=None
    )

    assert (status, body) == (401, "missing X-Hub-Signature-256 header")
    assert redis_client.xlen("staging:deliveries") == staging_log
    assert redis_client.hget("staging:stats", "rejected:missing_signature") is None
    assert redis_client.hget("prod:stats", "rejected:missing_signature") == "1"

    # Any other account stays in production.
    own = WorkflowJobPayloadFactory()
    own_id = own["workflow_job"]["id"]
    staging_keys = keys(redis_client, "staging")

    status, body, _ = post_delivery(production.url, own)

    assert (status, body) == (200, f"stored: job {own_id} pending in pool scw-em-rv1")
    assert redis_client.hget(f"prod:job:{own_id}", "k8s_pool") == "scw-em-rv1"
    assert not redis_client.exists(f"staging:job:{own_id}")
    assert keys(redis_client, "staging") == staging_keys


def test_with_staging_stopped_production_answers_502_and_records_nothing(
    production: Gunicorn, staging: Gunicorn, redis_client: redis.Redis
) -> None:
    staging.stop()
    before = {env: keys(redis_client, env) for env in ("prod", "staging")}

    status, body, delivery_id = post_delivery(
        production.url, WorkflowJobPayloadFactory(repository__owner__id=STAGING_ORG)
    )

    assert (status, body) == (502, "staging refused the connection, redeliver later")
    assert {env: keys(redis_client, env) for env in ("prod", "staging")} == before == {
        "prod": set(), "staging": set(),
    }  # fmt: skip
    assert f"proxy.failed delivery=\"{delivery_id}\" kind=refused" in production.log.read_text()
    # The failed forward is in production's delivery log and counters, for /metrics to alert on.
    [(_, entry)] = redis_client.xrevrange("prod:deliveries", count=1)
    assert (entry["delivery"], entry["outcome"], entry["reason"], entry["http_status"]) == (
        delivery_id, "forwarded", "staging_refused", "502"
    )
    assert redis_client.hget("prod:stats", "forwarded:staging_refused") == "1"
