"""Deliveries keep a reserved share of each process whatever the pages are asked
(runnerhub/capacity.py), anonymous report pages are drawn once for a few seconds, and a
failing staging cannot hold production's threads. The figures are bench/starvation.py's; here
the bound of the issue, under a modest load for a shared 2-core machine."""
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.core.wsgi import get_wsgi_application

from harness.factories import WorkflowJobPayloadFactory
from harness.load import Hammer, admin_logins, fill_history, forwarded_matrix, history_pages
from harness.load import timed_deliveries
from harness.redis_server import RedisServer
from harness.servers import BlackHole, Gunicorn
from harness.webhook_client import call_wsgi, github_headers
from reports import cache
from runnerhub.capacity import PageLimit
from webhooks.wsgi import DeliveryFastPath

ANSWERED_WITHIN_SECONDS = 1.0  # the bound; a delivery alone takes a few milliseconds




@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_past_the_page_limit_pages_get_503_and_deliveries_are_still_answered(
    settings: Any, redis_client: redis.Redis
) -> None:
    settings.PAGE_CONCURRENCY = 2
    django = get_wsgi_application()
    entered, release = threading.Semaphore(0), threading.Event()

    def pages(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == "/slow":  # a page that costs what a filtered /history does
            entered.release()
            release.wait(10)
        return django(environ, start_response)

    app = DeliveryFastPath(PageLimit(pages))
    held = [threading.Thread(target=call_wsgi, args=(app, "GET", "/slow")) for _ in range(2)]
    for thread in held:
        thread.start()
    for _ in held:
        assert entered.acquire(timeout=10)
    try:
        busy = call_wsgi(app, "GET", "/history.json")
        login = call_wsgi(app, "POST", "/admin/login/")
        health = call_wsgi(app, "GET", "/health")
        payload = WorkflowJobPayloadFactory()
        body = json.dumps(payload).encode()
        delivery = call_wsgi(app, "POST", "/", body, github_headers(body))
    finally:
        release.set()
        for thread in held:
            thread.join(10)
    after = call_wsgi(app, "GET", "/history.json")

    assert busy[0] == "503 Service Unavailable" and busy[1]["Retry-After"] == "2"
    assert busy[2] == b"busy: too many page requests at once, retry shortly\n"
    assert login[0] == "503 Service Unavailable"  # the admin's password hashing too
    assert health[0] == "200 OK"  # probes are never turned away
    assert delivery[0] == "200 OK" and delivery[2].startswith(b"stored:")
    assert redis_client.hget(f"prod:job:{payload['workflow_job']['id']}", "status") == "pending"
    assert after[0] == "200 OK"  # the slots are given back


@pytest.fixture
def page_cache(settings: Any) -> Iterator[None]:
    settings.REPORT_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_anonymous_viewers_share_a_recent_drawing_of_a_page(
    client: Any, deliver: Callable[..., Any], page_cache: None
) -> None:
    deliver(WorkflowJobPayloadFactory())
    first = client.get("/history.json")
    deliver(WorkflowJobPayloadFactory())

    again = client.get("/history.json")
    other = client.get("/history.json?per_page=10")
    staff = User.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    signed_in = client.get("/history.json")

    assert first.json()["total"] == again.json()["total"] == 1
    assert again["Cache-Control"] == first["Cache-Control"]  # still never cached by browsers
    assert other.json()["total"] == 2  # another page is drawn for itself
    assert signed_in.json()["total"] == 2  # staff see private names: never from the cache


@pytest.mark.django_db
def test_an_anonymous_html_page_and_its_json_are_cached_apart(
    client: Any, deliver: Callable[..., Any], page_cache: None
) -> None:
    deliver(WorkflowJobPayloadFactory())

    html = client.get("/usage", headers={"Accept": "text/html"})
    data = client.get("/usage", headers={"Accept": "application/json"})

    assert html["Content-Type"].startswith("text/html")
    assert data["Content-Type"] == "application/json"


@pytest.fixture
def production(redis_server: RedisServer) -> Iterator[Gunicorn]:
    with Gunicorn(redis_server.url, workers=2) as server:
        yield server


@pytest.mark.slow
def test_deliveries_are_answered_within_a_second_while_pages_and_logins_are_hammered(
    production: Gunicorn, redis_client: redis.Redis
) -> None:
    fill_history(redis_client, 5_000)
    attack = [Hammer(24, history_pages(production.url), 2_000),
              Hammer(8, admin_logins(production.url), 500)]  # fmt: skip
    try:
        timings = timed_deliveries(production.url, 100)
    finally:
        answered = [hammer.stop() for hammer in attack]

    assert [status for status, _ in timings] == [200] * 100
    assert max(seconds for _, seconds in timings) < ANSWERED_WITHIN_SECONDS, sorted(timings)[-5:]
    assert all(got[503] for got in answered)  # the attack really ran past the limit
    assert redis_client.zcard("prod:history") == 5_000 + 100


@pytest.mark.slow
def test_deliveries_are_answered_within_a_second_while_a_matrix_goes_to_a_dead_staging(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    owner = 9_300_000_002
    with BlackHole() as hole:
        env = {"STAGING_URL": hole.url("localhost"), "ALLOWED_HOSTS": "127.0.0.1"}
        with Gunicorn(redis_server.url, workers=2, env=env) as production:
            production.shell(
                "from webhooks.models import Account; a = Account(github_id="
                f"{owner}, login='staging-org', staging=True); a.full_clean(); a.save()"
            )
            matrix = Hammer(64, forwarded_matrix(production.url, owner), 300)
            try:
                timings = timed_deliveries(production.url, 100)
            finally:
                forwarded = matrix.stop()

    assert [status for status, _ in timings] == [200] * 100
    assert max(seconds for _, seconds in timings) < ANSWERED_WITHIN_SECONDS, sorted(timings)[-5:]
    assert set(forwarded) <= {503, 504} and forwarded[503]
    stats = redis_client.hgetall("prod:stats")
    assert int(stats.get("forwarded:staging_timeout", 0)) >= 1  # staging was tried
    refused = ("forwarded:staging_busy", "forwarded:staging_circuit_open")
    assert sum(int(stats.get(name, 0)) for name in refused) == forwarded[503]
