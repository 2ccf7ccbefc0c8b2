"""Secrets never leak: good, bad and hostile deliveries with every log at DEBUG, and neither the
webhook secrets, nor SECRET_KEY, nor any signature (sent or expected), nor any part of a payload
appears in a log line, a response body or a response header."""
import hashlib
import hmac
import http.client
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from harness.factories import AccountFactory, WorkflowJobPayloadFactory, same_job
from harness.redis_server import RedisServer, free_port
from harness.servers import Gunicorn
from harness.webhook_client import post_to
from webhooks.signatures import sign

OLD_SECRET = "old-webhook-secret-" + uuid.uuid4().hex
NEW_SECRET = "new-webhook-secret-" + uuid.uuid4().hex
WRONG_SECRET = "wrong-webhook-secret-" + uuid.uuid4().hex
SECRET_KEY = "django-secret-key-" + uuid.uuid4().hex * 2
CANARY = "canary" + uuid.uuid4().hex[:12]  # in every text field of every payload
STAGING_OWNER = 777_000_001


@dataclass(frozen=True)
class Delivery:
    name: str
    body: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


def canary_payload(action: str = "queued", **overrides: Any) -> dict[str, Any]:
    canaries = {
        "workflow_job__name": f"build {CANARY}",
        "workflow_job__workflow_name": f"CI {CANARY}",
        "workflow_job__head_branch": f"branch-{CANARY}",
        "workflow_job__steps": [{"name": f"step {CANARY}", "status": "queued"}],
        "repository__name": f"repo-{CANARY}",
        "repository__owner__login": f"org-{CANARY}",
    }
    payload = WorkflowJobPayloadFactory(action=action, **{**canaries, **overrides})
    payload["sender"] = {"login": f"user-{CANARY}"}
    return payload


def signed(name: str, payload: dict[str, Any] | bytes, secret: str | None = NEW_SECRET,
           event: str = "workflow_job", form: bool = False) -> Delivery:  # fmt: skip
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    content_type = "application/json"
    if form:
        body = urlencode({"payload": body.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4())}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret.encode())
    return Delivery(name, body, headers, content_type)


def deliveries() -> list[Delivery]:
    """Good, bad and hostile deliveries of the same canary-laden job."""
    job = canary_payload()
    body = json.dumps(job).encode()
    sha1 = "sha1=" + hmac.new(NEW_SECRET.encode(), body, hashlib.sha1).hexdigest()
    return [
        signed("queued", job),
        signed("queued again", job),
        signed("signed with the old secret", canary_payload()),
        signed("in_progress", same_job(job, "in_progress", runner_name=f"runner-{CANARY}")),
        signed("completed", same_job(job, "completed", conclusion="success")),
        signed("late queued", job),
        signed("form-encoded", canary_payload(), form=True),
        signed("no label match", canary_payload(workflow_job__labels=[f"gpu-{CANARY}"])),
        signed("waiting", canary_payload("waiting")),
        signed("ping", {"zen": f"Keep it {CANARY}.", "hook_id": 1}, event="ping"),
        signed("another event", canary_payload(), event="push"),
        signed("staging account", canary_payload(repository__owner__id=STAGING_OWNER)),
        signed("wrong secret", canary_payload(), secret=WRONG_SECRET),
        signed("no signature", canary_payload(), secret=None),
        Delivery("sha1 signature", body, {"X-GitHub-Event": "workflow_job",
                                          "X-Hub-Signature-256": sha1}),  # fmt: skip
        Delivery("truncated signature", body, {"X-GitHub-Event": "workflow_job",
                 "X-Hub-Signature-256": sign(body, NEW_SECRET.encode())[:-2]}),  # fmt: skip
        signed("no event", canary_payload(), event=""),
        signed("broken json", body[:-10]),
        signed("wrong type", canary_payload(workflow_job__id=f"id-{CANARY}")),
        signed("lone surrogate", canary_payload(workflow_job__name=f"\udc00{CANARY}")),
        signed("not utf-8", body.replace(CANARY.encode(), b"\xff" + CANARY.encode())),
        signed("deep", b'{"action": ' + b"[" * 5000 + CANARY.encode() + b"]" * 5000 + b"}"),
        signed("too large", canary_payload(workflow_job__labels=[CANARY * 200])),
        signed("binary", CANARY.encode() + bytes(range(256))),
    ]


def forbidden(sent: list[Delivery]) -> dict[str, str]:
    """Every string that must appear nowhere, by what it is."""
    words = {"old secret": OLD_SECRET, "new secret": NEW_SECRET, "wrong secret": WRONG_SECRET,
             "SECRET_KEY": SECRET_KEY, "payload text": CANARY}  # fmt: skip
    for delivery in sent:
        if given := delivery.headers.get("X-Hub-Signature-256"):
            words[f"signature sent with {delivery.name}"] = given.partition("=")[2]
        for secret in (OLD_SECRET, NEW_SECRET):
            expected = sign(delivery.body, secret.encode()).partition("=")[2]
            words[f"signature expected for {delivery.name}"] = expected
    return words


def leaks(sent: list[Delivery], outputs: list[str]) -> list[str]:
    return [
        f"{what} in {output[:200]!r}"
        for what, word in forbidden(sent).items()
        for output in outputs
        if word and word in output
    ]


@pytest.fixture
def configured(settings: Any) -> None:
    settings.GITHUB_WEBHOOK_SECRETS = [NEW_SECRET, OLD_SECRET]  # a rotation under way
    settings.SECRET_KEY = SECRET_KEY
    settings.WEBHOOK_MAX_BODY_BYTES = 4096
    settings.STAGING_URL = f"http://127.0.0.1:{free_port()}/"  # refuses: a 502 is logged
    settings.RUNNERHUB_ENV = "prod"


@pytest.mark.django_db
def test_nothing_secret_reaches_a_log_line_or_an_answer(
    wsgi_application: Any,
    configured: None,
    caplog: pytest.LogCaptureFixture,
    redis_server: RedisServer,
) -> None:
    AccountFactory(github_id=STAGING_OWNER, staging=True)
    caplog.set_level(logging.DEBUG)
    sent = deliveries()
    outputs = []
    for delivery in sent:
        response = post_to(wsgi_application, delivery.body, delivery.content_type, delivery.headers)
        outputs.append(response.content.decode(errors="replace"))
        outputs.extend(f"{name}: {value}" for name, value in response.headers.items())
    redis_server.stop()  # and once with Redis down: a 503 and an error logged
    down = signed("redis down", canary_payload())
    response = post_to(wsgi_application, down.body, down.content_type, down.headers)
    assert response.status_code == 503
    outputs.append(response.content.decode())
    sent.append(down)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    outputs.extend(formatter.format(record) for record in caplog.records)

    assert len(caplog.records) > len(sent)  # the deliveries were logged, at DEBUG too
    assert {r.levelname for r in caplog.records} >= {"DEBUG", "WARNING", "ERROR"}
    assert leaks(sent, outputs) == []


@pytest.fixture(scope="module")
def debug_server() -> Iterator[tuple[Gunicorn, RedisServer]]:
    store = RedisServer().start()
    env = {
        "GITHUB_WEBHOOK_SECRET": NEW_SECRET,
        "GITHUB_WEBHOOK_SECRET_PREVIOUS": OLD_SECRET,
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "DEBUG",
        "GUNICORN_CMD_ARGS": "--log-level debug",  # gunicorn's own log too
        "WEBHOOK_MAX_BODY_BYTES": "4096",
        "STAGING_URL": f"http://localhost:{free_port()}/",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    try:
        with Gunicorn(store.url, workers=1, env=env) as server:
            server.shell(
                f"from webhooks.models import Account; Account(github_id={STAGING_OWNER}, "
                "login='staging-org', type='Organization', staging=True).save()"
            )
            yield server, store
    finally:
        store.cleanup()


@pytest.mark.slow
def test_nothing_secret_reaches_gunicorns_log_or_an_answer(
    debug_server: tuple[Gunicorn, RedisServer],
) -> None:
    server, store = debug_server
    sent = deliveries()
    outputs = []
    answers = []
    for delivery in sent:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        headers = {**delivery.headers, "Content-Type": delivery.content_type}
        connection.request("POST", "/", body=delivery.body, headers=headers)
        response = connection.getresponse()
        answers.append(response.status)
        outputs.append(response.read().decode(errors="replace"))
        outputs.extend(f"{name}: {value}" for name, value in response.getheaders())
        connection.close()
    server.stop()  # flushes the log
    log = server.log.read_text(errors="replace")

    assert 200 in answers and 401 in answers and 400 in answers and 502 in answers
    assert "DEBUG webhooks.lifecycle webhook.delivery" in log
    assert "[DEBUG]" in log  # gunicorn's own debug lines
    assert leaks(sent, outputs + log.splitlines()) == []
    assert redis.Redis.from_url(store.url).exists("prod:stats")
