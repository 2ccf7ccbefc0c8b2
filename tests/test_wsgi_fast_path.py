"""runnerhub.wsgi: deliveries answered in front of Django, everything else by Django."""
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.core.wsgi import get_wsgi_application

from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.webhook_client import (
    Answer,
    call_wsgi,
    fixture_bytes,
    github_headers,
    post_to,
    signed_delivery,
)
from webhooks import intake
from webhooks.wsgi import DeliveryFastPath

# The fast path closes stale database connections after each delivery, as Django does after
# each request, so these tests run outside a wrapping transaction (with the default mappings
# restored, as the data migration left them).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def app(wsgi_application: DeliveryFastPath) -> DeliveryFastPath:
    return wsgi_application


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, github_headers(body)


def test_a_delivery_is_recorded_on_the_fast_path(app, redis_client: redis.Redis) -> None:
    payload = WorkflowJobPayloadFactory()
    body, headers = signed(payload)
    status, response_headers, content = call_wsgi(app, body=body, headers=headers)
    job_id = payload["workflow_job"]["id"]
    assert status == "200 OK"
    assert content.decode() == f"stored: job {job_id} pending in pool scw-em-rv1"
    assert response_headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response_headers["X-Content-Type-Options"] == "nosniff"
    assert response_headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response_headers  # plain HTTP
    assert redis_client.hget(f"prod:job:{job_id}", "status") == "pending"


def test_a_wrong_signature_is_refused_on_the_fast_path(app, redis_client: redis.Redis) -> None:
    body, headers = signed(WorkflowJobPayloadFactory())
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    status, _, content = call_wsgi(app, body=body, headers=headers)
    assert (status, content) == ("401 Unauthorized", b"invalid signature")
    assert redis_client.keys("prod:job:*") == []


def test_redis_down_is_503_on_the_fast_path(app, redis_server) -> None:
    body, headers = signed(WorkflowJobPayloadFactory())
    redis_server.stop()
    status, _, content = call_wsgi(app, body=body, headers=headers)
    assert (status, content) == ("503 Service Unavailable", b"redis unavailable, redeliver later")


@pytest.mark.parametrize(("method", "path", "expected"), [("GET", "/", "405"), ("POST", "/health", "405"),
                                                          ("GET", "/health", "200")])  # fmt: skip
def test_everything_else_is_served_by_django(app, method: str, path: str, expected: str) -> None:
    status, _, _ = call_wsgi(app, method=method, path=path)
    assert status.startswith(expected)


def test_with_https_required_plain_http_is_redirected_by_django(settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    app = DeliveryFastPath(get_wsgi_application())  # Django's middleware reads it at start-up
    body, headers = signed(WorkflowJobPayloadFactory())
    status, response_headers, _ = call_wsgi(app, body=body, headers=headers)
    assert status.startswith("301")
    assert response_headers["Location"].startswith("https://")


def test_behind_the_tls_proxy_a_delivery_gets_hsts(settings, redis_client: redis.Redis) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    app = DeliveryFastPath(lambda environ, start_response: [])
    body, headers = signed(WorkflowJobPayloadFactory())
    headers["X-Forwarded-Proto"] = "https"
    status, response_headers, _ = call_wsgi(app, body=body, headers=headers)
    assert status == "200 OK"
    assert response_headers["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"


def test_an_unexpected_error_is_a_logged_500_without_the_payload(
    app, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(intake, "receive", broken)
    body, headers = signed(WorkflowJobPayloadFactory())
    with caplog.at_level(logging.ERROR):
        status, _, content = call_wsgi(app, body=body, headers=headers)
    assert (status, content) == ("500 Internal Server Error", b"internal error")
    [record] = [r for r in caplog.records if r.getMessage().startswith("webhook.error")]
    assert headers["X-GitHub-Delivery"] in record.getMessage()
    assert body.decode()[:40] not in caplog.text


@pytest.fixture
def signalled() -> Iterator[list[tuple[str, Any, dict[str, Any]]]]:
    """What Django's request signals carried, in order: (name, sender, arguments); for
    got_request_exception, the exception its receivers see as sys.exc_info()."""
    seen: list[tuple[str, Any, dict[str, Any]]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Any, signal: Any, **kwargs: Any) -> None:
            if name == "exception":
                kwargs["exc"] = sys.exc_info()[1]
            seen.append((name, sender, kwargs))

        return receive

    receivers = {request_started: receiver("started"), request_finished: receiver("finished"),
                 got_request_exception: receiver("exception")}  # fmt: skip
    for signal, receive in receivers.items():
        signal.connect(receive)
    yield seen
    for signal, receive in receivers.items():
        signal.disconnect(receive)


def names(signalled: list[tuple[str, Any, dict[str, Any]]]) -> list[str]:
    return [name for name, _, _ in signalled]


def test_each_delivery_starts_and_finishes_one_request(app, signalled) -> None:
    stored, _ = signed(WorkflowJobPayloadFactory())
    deliveries = [(stored, github_headers(stored)), (stored, github_headers(stored, secret="wrong")),
                  (b"{}", github_headers(b"{}", event="ping"))]  # fmt: skip
    for body, headers in deliveries:
        call_wsgi(app, body=body, headers=headers)

    assert names(signalled) == ["started", "finished"] * len(deliveries)
    assert {sender for _, sender, _ in signalled} == {DeliveryFastPath}
    started = [arguments["environ"] for name, _, arguments in signalled if name == "started"]
    assert [environ["HTTP_X_GITHUB_DELIVERY"] for environ in started] == [
        headers["X-GitHub-Delivery"] for _, headers in deliveries
    ]


def test_a_delivery_finishes_when_the_server_closes_its_reply(app, signalled) -> None:
    # As a Django response does: what request_finished's receivers do comes after the answer.
    answered: list[str] = []

    def server_side(environ: dict[str, Any], start_response: Any) -> Any:
        reply = app(environ, start_response)
        answered.extend(names(signalled))
        return reply

    body, headers = signed(WorkflowJobPayloadFactory())
    status, _, _ = call_wsgi(server_side, body=body, headers=headers)  # reads, then closes

    assert status == "200 OK"
    assert answered == ["started"]
    assert names(signalled) == ["started", "finished"]


def test_a_page_starts_and_finishes_one_request_too(app, signalled) -> None:
    assert call_wsgi(app, method="GET", path="/health")[0] == "200 OK"
    assert [(name, sender) for name, sender, _ in signalled] == [
        ("started", WSGIHandler), ("finished", WSGIHandler)
    ]


def test_an_unexpected_error_reaches_got_request_exception(
    app, settings, signalled, redis_client: redis.Redis
) -> None:
    # The body cap as the environment spells it, text: comparing a length with it fails.
    settings.WEBHOOK_MAX_BODY_BYTES = "1048576"
    body, headers = signed(WorkflowJobPayloadFactory())

    status, _, content = call_wsgi(app, body=body, headers=headers)

    assert (status, content) == ("500 Internal Server Error", b"internal error")
    assert names(signalled) == ["started", "exception", "finished"]
    [(_, sender, arguments)] = [s for s in signalled if s[0] == "exception"]
    request = arguments["request"]
    assert (sender, request.method, request.path) == (None, "POST", "/")
    assert request.headers["X-GitHub-Delivery"] == headers["X-GitHub-Delivery"]
    assert isinstance(arguments["exc"], TypeError)
    assert redis_client.keys("prod:job:*") == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443", "", "runnerhub.example.org.evil"])
def test_a_signed_delivery_to_another_host_gets_400_as_django_answers(
    app, settings, redis_client: redis.Redis, host: str
) -> None:
    settings.ALLOWED_HOSTS = ["runnerhub.example.org"]
    body, headers = signed(WorkflowJobPayloadFactory())
    headers["Host"] = host

    status, _, content = call_wsgi(app, body=body, headers=headers)

    assert (status, content) == ("400 Bad Request", b"invalid host")
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hget("prod:stats", "rejected:bad_host") == "1"
    # Django says the same for every other request to that host.
    assert call_wsgi(app, method="GET", path="/usage", headers={"Host": host})[0].startswith("400")


def test_a_delivery_to_an_allowed_host_is_recorded(app, settings, redis_client) -> None:
    settings.ALLOWED_HOSTS = [".example.org"]
    payload = WorkflowJobPayloadFactory()
    body, headers = signed(payload)
    headers["Host"] = "runnerhub.example.org:8443"

    status, _, _ = call_wsgi(app, body=body, headers=headers)

    assert status == "200 OK"
    assert redis_client.hget(f"prod:job:{payload['workflow_job']['id']}", "status") == "pending"


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_probes_and_scrapers_are_answered_whatever_the_host(app, settings, path: str) -> None:
    # Kubernetes and Prometheus name the pod by its address.
    settings.ALLOWED_HOSTS = ["runnerhub.example.org"]

    status, headers, _ = call_wsgi(app, method="GET", path=path, headers={"Host": "10.1.2.3:8080"})

    assert status == "200 OK"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


# The same deliveries both ways in: the fast path and Django's own handler, which answers
# deliveries through the webhook view when nothing stands in front of it.

PARITY_CAP = 16 * 1024


def riscv_fixture(name: str) -> dict[str, Any]:
    payload = json.loads(fixture_bytes(name))
    payload["workflow_job"]["labels"] = ["ubuntu-24.04-riscv"]
    return payload


def parity_deliveries() -> list[tuple[str, tuple[bytes, str, dict[str, str]]]]:
    """Every kind of delivery, each signed once, so that both ways get the very same bytes."""
    job = WorkflowJobPayloadFactory()
    queued = riscv_fixture("workflow_job.queued.payload.json")
    kinds = {
        "queued": signed_delivery(queued),
        "queued again": signed_delivery(queued),
        "in_progress": signed_delivery(riscv_fixture("workflow_job.in_progress.payload.json")),
        "completed": signed_delivery(
            riscv_fixture("workflow_job.completed.success.with-organization.payload.json")
        ),
        "a job moved on": signed_delivery(same_job(job, "in_progress")),
        "a job done": signed_delivery(same_job(job, "completed", conclusion="success")),
        "a late queued": signed_delivery(job),
        "for other runners": signed_delivery(WorkflowJobPayloadFactory(workflow_job__labels=["ubuntu-latest"])),
        "waiting": signed_delivery(fixture_bytes("workflow_job.waiting.payload.json")),
        "form-encoded": signed_delivery(WorkflowJobPayloadFactory(), form=True),
        "bad signature": signed_delivery(WorkflowJobPayloadFactory(), secret="not-the-secret"),
        "no signature": signed_delivery(WorkflowJobPayloadFactory(), secret=None),
        "no event header": signed_delivery(WorkflowJobPayloadFactory(), headers={"X-GitHub-Event": ""}),
        "bad JSON": signed_delivery(b'{"action": "queued", '),
        "not an object": signed_delivery(b"[1, 2]"),
        "a field of the wrong type": signed_delivery(WorkflowJobPayloadFactory(action=["queued"])),
        "another content type": signed_delivery(
            WorkflowJobPayloadFactory(), headers={"Content-Type": "text/plain"}
        ),
        "JSON said to be a form": signed_delivery(
            WorkflowJobPayloadFactory(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        "too large": signed_delivery(
            WorkflowJobPayloadFactory(workflow_job__steps=[{"name": "x" * PARITY_CAP}])
        ),
        "declared too large": signed_delivery(b"{}", headers={"Content-Length": str(10 * PARITY_CAP)}),
        "unknown event": signed_delivery(
            fixture_bytes("installation.created.payload.json"), event="installation"
        ),
        "ping": signed_delivery(fixture_bytes("ping.payload.json"), event="ping"),
    }
    return list(kinds.items())


def recorded(redis_client: redis.Redis) -> tuple[dict[str, str], dict[str, str]]:
    """What the deliveries left in Redis that does not depend on when: the counters, and each
    job's status."""
    jobs = {key: redis_client.hget(key, "status") for key in redis_client.scan_iter("prod:job:*")}
    return redis_client.hgetall("prod:stats"), jobs


def answers(app: Any, sent: list[tuple[str, tuple[bytes, str, dict[str, str]]]]) -> dict[str, Answer]:
    return {name: post_to(app, *delivery) for name, delivery in sent}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_every_kind_of_delivery_is_answered_the_same_both_ways(
    app, settings, fresh_state, redis_client: redis.Redis, scheme: str
) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = PARITY_CAP
    if scheme == "https":
        # Production's: HTTPS behind the TLS proxy, with HSTS; both apps read them at start-up.
        settings.SECURE_SSL_REDIRECT = True
        settings.SECURE_HSTS_SECONDS = 31_536_000
        settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
        app = DeliveryFastPath(get_wsgi_application())
    sent = parity_deliveries()
    if scheme == "https":
        for _, (_, _, headers) in sent:
            headers["X-Forwarded-Proto"] = "https"
    django = get_wsgi_application()

    fast = answers(app, sent)
    on_the_fast_path = recorded(redis_client)
    fresh_state()
    viewed = answers(django, sent)

    for name, _ in sent:
        assert (viewed[name].status_code, viewed[name].content) == (
            fast[name].status_code, fast[name].content
        ), name
        # Every header, security headers included. None differs: the view reads no session and
        # is exempt from CSRF, so Django sets no cookie and adds no Vary: Cookie; Date and
        # Server are the server's. Only the order differs, which HTTP gives no meaning.
        assert dict(viewed[name].headers.items()) == dict(fast[name].headers.items()), name
    assert ("Strict-Transport-Security" in fast["queued"].headers) == (scheme == "https")
    assert {answer.status_code for answer in fast.values()} == {200, 400, 401, 413}
    assert all(on_the_fast_path)  # counters and jobs
    assert recorded(redis_client) == on_the_fast_path


@pytest.mark.parametrize("fault", ["another host", "an unexpected error"])
def test_a_refused_host_and_an_unexpected_error_get_djangos_status_in_plain_words(
    app, settings, fresh_state, fault: str
) -> None:
    """The two answers that differ: Django answers them with its HTML error pages, the fast
    path with the text every other delivery gets."""
    settings.ALLOWED_HOSTS = ["runnerhub.example.org"]
    body, content_type, headers = signed_delivery(WorkflowJobPayloadFactory())
    if fault == "another host":
        headers["Host"] = "evil.example"
    else:
        settings.WEBHOOK_MAX_BODY_BYTES = "1048576"  # text, as the environment spells it
        headers["Host"] = "runnerhub.example.org"

    fast = post_to(app, body, content_type, headers)
    fresh_state()
    viewed = post_to(get_wsgi_application(), body, content_type, headers)

    assert fast.status_code == viewed.status_code == (400 if fault == "another host" else 500)
    assert fast.content in (b"invalid host", b"internal error")
    assert (fast["Content-Type"], viewed["Content-Type"]) == (intake.TEXT, "text/html; charset=utf-8")
    # Django's pages are HTML, so they get the content security policy, which only HTML needs;
    # and it refuses another host inside CommonMiddleware, before the middleware that adds
    # Content-Length and X-Frame-Options sees the answer. The fast path's text has both.
    differ = {"Content-Type", "Content-Length", "Content-Security-Policy", "X-Frame-Options"}
    assert {k: v for k, v in fast.headers.items() if k not in differ} == {
        k: v for k, v in viewed.headers.items() if k not in differ
    }
    assert (fast["Content-Length"], fast["X-Frame-Options"]) == (str(len(fast.content)), "DENY")
