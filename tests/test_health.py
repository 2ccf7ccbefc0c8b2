import time

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_is_ok_when_everything_answers(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "redis": "ok", "scheduler": "not running"
    }


def test_it_reports_a_scheduler_that_missed_three_intervals(client, redis_client, settings):
    from webhooks.keys import Keys

    settings.SCHEDULER_INTERVAL_SECONDS = 15
    state = Keys(settings.RUNNERHUB_ENV).scheduler_state
    redis_client.hset(state, "last_pass_at", time.time() - 20)
    assert client.get("/health").json()["scheduler"] == "ok"

    redis_client.hset(state, "last_pass_at", time.time() - 46)
    response = client.get("/health")

    assert response.status_code == 200  # the web tier's own readiness does not depend on it
    assert response.json()["scheduler"].startswith("stale: last pass 46 s ago")


def test_it_names_redis_when_redis_is_down(client: Client, redis_server) -> None:
    redis_server.stop()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "down: redis", "database": "ok", "redis": "down"}
    redis_server.start()
    assert client.get("/health").status_code == 200


def test_it_names_the_database_when_the_database_is_down(client: Client, monkeypatch) -> None:
    from django.db import connection
    from django.db.utils import OperationalError

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down: database"


def test_it_only_answers_get(client: Client) -> None:
    assert client.post("/health").status_code == 405
