"""The staging proxy: production hands a staging account's deliveries to staging, unchanged."""
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from harness.factories import AccountFactory, WorkflowJobPayloadFactory, same_job
from harness.redis_server import free_port
from harness.servers import BlackHole
from harness.webhook_client import fixture_bytes, github_headers, post_to
from webhooks import proxy, store
from webhooks.models import Account

pytestmark = pytest.mark.django_db


@dataclass
class FakeStaging:
    """A staging deployment that records what reaches it and answers as told."""

    status: int = 200
    body: bytes = b"stored: job 1 pending in pool scw-em-rv1"
    content_type: str = "text/plain; charset=utf-8"
    delay: float = 0.0  # before the status line
    drip: float = 0.0  # between the bytes of the body
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def staging(settings: Any) -> Iterator[FakeStaging]:
    fake = FakeStaging()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.received.append((self.path, dict(self.headers.items()), body))
            time.sleep(fake.delay)
            self.send_response(fake.status)
            self.send_header("Content-Type", fake.content_type)
            self.send_header("Content-Length", str(len(fake.body)))
            self.end_headers()
            chunks = (
                [fake.body[i : i + 1] for i in range(len(fake.body))] if fake.drip else [fake.body]
            )
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(fake.drip)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    settings.RUNNERHUB_ENV = "prod"
    settings.STAGING_URL = fake.url
    yield fake
    server.shutdown()
    server.server_close()


def staging_account(**fields: Any) -> Account:
    return AccountFactory(staging=True, **fields)


def payload_of(account: Account, **fields: Any) -> dict[str, Any]:
    return WorkflowJobPayloadFactory(repository__owner__id=account.github_id, **fields)


def prod_keys(redis_client: redis.Redis) -> list[str]:
    """Every production key but the config version, which admin saves move, and the delivery
    log and counters, which record the forward itself."""
    k = store.keys()
    return sorted(set(redis_client.keys("prod:*")) - {k.config_version, k.deliveries, k.stats})


def test_a_staging_accounts_delivery_reaches_staging_byte_for_byte(
    wsgi_application: Any, staging: FakeStaging, redis_client: redis.Redis
) -> None:
    # Real GitHub bytes: their whitespace must survive, or staging's signature check fails.
    body = fixture_bytes("workflow_job.queued.payload.json")
    staging_account(github_id=json.loads(body)["repository"]["owner"]["id"])

    headers = github_headers(body)
    response = post_to(
        wsgi_application, body, "application/json",
        {**headers, "X-GitHub-Hook-ID": "42", "X-Hub-Signature": "sha1=legacy"},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.content == staging.body
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    [(path, sent, received)] = staging.received
    assert (path, received) == ("/", body)
    assert sent["X-Hub-Signature-256"] == headers["X-Hub-Signature-256"]
    assert sent["X-Hub-Signature"] == "sha1=legacy"
    assert sent["X-Github-Event"] == "workflow_job"
    assert sent["X-Github-Delivery"] == headers["X-GitHub-Delivery"]
    assert sent["X-Github-Hook-Id"] == "42"
    assert sent["User-Agent"] == "GitHub-Hookshot/test"
    assert sent["Content-Type"] == "application/json"
    assert prod_keys(redis_client) == []


def test_a_form_encoded_delivery_is_forwarded_as_it_came(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    account = staging_account()
    payload = payload_of(account)

    response = deliver(payload, form=True)

    [(_, sent, received)] = staging.received
    assert response.status_code == 200
    assert sent["Content-Type"] == "application/x-www-form-urlencoded"
    assert received == urlencode({"payload": json.dumps(payload)}).encode()


def test_only_githubs_headers_are_forwarded(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    account = staging_account()

    deliver(
        payload_of(account),
        headers={
            "Cookie": "sessionid=secret",
            "Authorization": "Bearer x",
            "X-Forwarded-For": "1.2.3.4",
        },
    )

    [(_, sent, _)] = staging.received
    assert {"Cookie", "Authorization", "X-Forwarded-For"}.isdisjoint(sent)


@pytest.mark.parametrize("status", [201, 400, 401, 503])
def test_stagings_status_and_body_are_what_github_gets(
    deliver: Callable[..., Any], staging: FakeStaging, status: int
) -> None:
    staging.status, staging.body = status, f"staging says {status}".encode()

    response = deliver(payload_of(staging_account()))

    assert (response.status_code, response.content) == (status, staging.body)


def test_a_long_answer_from_staging_is_cut(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    staging.body = b"x" * (proxy.MAX_REPLY_BYTES + 10)

    response = deliver(payload_of(staging_account()))

    assert response.content == b"x" * proxy.MAX_REPLY_BYTES


def test_any_action_of_a_staging_account_is_forwarded(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    # Staging decides what to ignore, and logs it in its own delivery log.
    deliver(payload_of(staging_account(), action="waiting"))

    assert len(staging.received) == 1


def test_staging_url_with_a_path_is_posted_to_that_path(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any
) -> None:
    settings.STAGING_URL = staging.url + "hooks/github?from=prod"

    deliver(payload_of(staging_account()))

    assert staging.received[0][0] == "/hooks/github?from=prod"


@pytest.mark.parametrize("secret", [None, "not-the-secret"], ids=["unsigned", "wrongly signed"])
def test_a_delivery_that_fails_the_signature_check_never_reaches_staging(
    deliver: Callable[..., Any], staging: FakeStaging, secret: str | None
) -> None:
    response = deliver(payload_of(staging_account()), secret=secret)

    assert response.status_code == 401
    assert staging.received == []


def test_staging_refusing_the_connection_answers_502_and_records_nothing(
    deliver: Callable[..., Any], settings: Any, redis_client: redis.Redis, caplog: Any
) -> None:
    settings.STAGING_URL = f"http://127.0.0.1:{free_port()}/"
    payload = payload_of(staging_account())

    with caplog.at_level(logging.INFO, logger="webhooks.proxy"):
        response = deliver(payload, headers={"X-GitHub-Delivery": "delivery-502"})

    assert response.status_code == 502
    assert response.content == b"staging refused the connection, redeliver later"
    assert 'proxy.failed delivery="delivery-502" kind=refused status=502' in caplog.messages
    assert prod_keys(redis_client) == []


def test_staging_not_answering_in_time_answers_504_and_records_nothing(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any, redis_client: redis.Redis,
    caplog: Any,
) -> None:  # fmt: skip
    settings.STAGING_TIMEOUT_SECONDS = 0.3
    staging.delay = 2

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="webhooks.proxy"):
        response = deliver(
            payload_of(staging_account()), headers={"X-GitHub-Delivery": "delivery-504"}
        )

    assert time.monotonic() - started < 1.5
    assert response.status_code == 504
    assert response.content == b"staging did not answer in time, redeliver later"
    assert 'proxy.failed delivery="delivery-504" kind=timeout status=504' in caplog.messages
    assert prod_keys(redis_client) == []


def test_the_timeout_bounds_the_whole_answer_not_each_read(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any
) -> None:
    # Each byte comes well within the timeout; all of them together do not.
    settings.STAGING_TIMEOUT_SECONDS = 0.5
    staging.body, staging.drip = b"x" * 40, 0.05

    started = time.monotonic()
    response = deliver(payload_of(staging_account()))

    assert response.status_code == 504
    assert time.monotonic() - started < 1.5


def test_an_unreachable_staging_host_answers_502(
    deliver: Callable[..., Any], settings: Any, caplog: Any
) -> None:
    settings.STAGING_URL = "http://staging.invalid/"

    with caplog.at_level(logging.ERROR, logger="webhooks.proxy"):
        response = deliver(payload_of(staging_account()), headers={"X-GitHub-Delivery": "d-dns"})

    assert response.status_code == 502
    assert response.content == b"staging could not be reached, redeliver later"
    assert caplog.messages[0].startswith('proxy.failed delivery="d-dns" kind=error status=502 error=')


@pytest.mark.parametrize(
    "setup",
    [
        lambda s: setattr(s, "RUNNERHUB_ENV", "staging"),
        lambda s: setattr(s, "STAGING_URL", ""),
    ],
    ids=["on staging itself", "without STAGING_URL"],
)
def test_a_deployment_that_does_not_forward_records_staging_accounts_itself(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any,
    redis_client: redis.Redis, setup: Callable[[Any], None],
) -> None:  # fmt: skip
    setup(settings)
    payload = payload_of(staging_account())

    response = deliver(payload)

    assert response.content.decode().startswith("stored:")
    assert staging.received == []
    job_key = f"{settings.RUNNERHUB_ENV}:job:{payload['workflow_job']['id']}"
    assert redis_client.exists(job_key)


def test_other_accounts_are_recorded_in_production(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    staging_account()
    payload = payload_of(AccountFactory())

    response = deliver(payload)

    assert response.content.decode().startswith("stored:")
    assert staging.received == []
    assert redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


def test_a_staging_accounts_other_events_are_not_forwarded(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    account = staging_account()

    response = deliver(
        {"zen": "Design for failure.", "repository": {"owner": {"id": account.github_id}}},
        event="ping",
    )

    assert response.content.decode() == "pong"
    assert staging.received == []


def test_a_blocked_staging_account_is_ignored_not_forwarded(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    response = deliver(payload_of(staging_account(blocked=True)))

    assert response.content.decode() == "ignored: the account is blocked"
    assert staging.received == []


def test_an_account_moved_to_staging_in_another_process_is_forwarded_from_the_next_delivery(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    account = AccountFactory()
    deliver(payload_of(account))
    Account.objects.filter(pk=account.pk).update(staging=True)
    store.bump_config_version()

    deliver(payload_of(account))

    assert len(staging.received) == 1


def test_an_account_moved_back_to_production_in_another_process_is_recorded_from_the_next_delivery(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    account = staging_account()
    deliver(payload_of(account))
    Account.objects.filter(pk=account.pk).update(staging=False)
    store.bump_config_version()

    payload = payload_of(account)
    response = deliver(payload)

    assert len(staging.received) == 1  # the first delivery only
    assert response.content.decode().startswith("stored:")
    assert redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


def test_forwarding_with_redis_down_fails_the_delivery_for_redelivery(
    deliver: Callable[..., Any], staging: FakeStaging, redis_server: Any
) -> None:
    # Without Redis production cannot tell whether the account is still a staging one.
    account = staging_account()
    deliver(payload_of(account))
    redis_server.stop()

    response = deliver(payload_of(account))

    assert response.status_code == 503
    assert len(staging.received) == 1


def test_a_job_recorded_before_its_account_moved_to_staging_finishes_in_production(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    account = AccountFactory()
    payload = payload_of(account)
    assert deliver(payload).content.decode().startswith("stored:")
    account.staging = True
    account.save()  # the move happens mid-job

    response = deliver(same_job(payload, "completed", conclusion="success"))

    assert response.content.decode().startswith("updated:")
    assert staging.received == []
    pool = store.keys().pool_jobs(account.github_id, "scw-em-rv1")
    assert redis_client.scard(pool) == 0
    # A job production never saw goes to staging as before.
    assert deliver(payload_of(account)).status_code == 200
    assert len(staging.received) == 1


def test_a_status_staging_should_never_send_answers_502(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    staging.status = 999
    response = deliver(payload_of(staging_account()))
    assert response.status_code == 502
    assert response.content == b"staging could not be reached, redeliver later"


# Forwarded deliveries in the delivery log and the counters.


def entries(redis_client: redis.Redis) -> list[dict[str, str]]:
    return [entry for _, entry in redis_client.xrevrange(store.keys().deliveries)]


def test_a_forwarded_delivery_is_in_the_delivery_log_and_counted(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    payload = payload_of(staging_account())

    deliver(payload, headers={"X-GitHub-Delivery": "fwd-1"})
    staging.status = 502  # staging's own 502, passed back as it is
    deliver(payload_of(staging_account()), headers={"X-GitHub-Delivery": "fwd-2"})

    assert [(e["delivery"], e["outcome"], e["reason"], e["http_status"]) for e in entries(redis_client)] == [
        ("fwd-2", "forwarded", "", "502"),
        ("fwd-1", "forwarded", "", "200"),
    ]  # fmt: skip
    assert entries(redis_client)[1]["job_id"] == str(payload["workflow_job"]["id"])
    assert redis_client.hget(store.keys().stats, "forwarded") == "2"


def test_a_forward_that_times_out_is_in_the_delivery_log_as_504(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any, redis_client: redis.Redis
) -> None:
    settings.STAGING_TIMEOUT_SECONDS = 0.3
    staging.delay = 1

    assert deliver(payload_of(staging_account())).status_code == 504

    [entry] = entries(redis_client)
    assert (entry["outcome"], entry["reason"], entry["http_status"]) == (
        "forwarded", "staging_timeout", "504"
    )
    assert redis_client.hget(store.keys().stats, "forwarded:staging_timeout") == "1"


# The loop guard.


def test_a_forwarded_delivery_carries_the_hop_header(
    deliver: Callable[..., Any], staging: FakeStaging
) -> None:
    deliver(payload_of(staging_account()))

    [(_, sent, _)] = staging.received
    assert sent[proxy.HOP_HEADER] == "prod"


def test_a_delivery_that_was_forwarded_already_is_never_forwarded_again(
    deliver: Callable[..., Any], staging: FakeStaging, redis_client: redis.Redis
) -> None:
    # A STAGING_URL that leads back to a production replica: the delivery stops there.
    payload = payload_of(staging_account())

    response = deliver(payload, headers={proxy.HOP_HEADER: "prod"})

    assert response.content.decode().startswith("stored:")
    assert staging.received == []
    assert redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


# A failing staging holds few of production's threads, and not for long.


def in_flight(staging: FakeStaging, count: int, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while len(staging.received) < count:
        assert time.monotonic() < deadline, "the forward never reached staging"
        time.sleep(0.01)


def test_past_the_forwards_in_flight_a_delivery_gets_503_at_once(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any, redis_client: redis.Redis
) -> None:
    settings.STAGING_MAX_FORWARDS = 2
    staging.delay = 1.5
    slow = [payload_of(staging_account()) for _ in range(2)]
    headers = proxy.forwarded_headers({"CONTENT_TYPE": "application/json"})
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda b=body: answers.append(proxy.forward(b, headers, "x").http_status)
        )
        for body in (json.dumps(p).encode() for p in slow)
    ]
    for thread in threads:
        thread.start()
    in_flight(staging, 2)

    started = time.monotonic()
    response = deliver(payload_of(staging_account()), headers={"X-GitHub-Delivery": "third"})
    elapsed = time.monotonic() - started
    for thread in threads:
        thread.join()

    assert (response.status_code, response.content) == (
        503, b"too many deliveries on their way to staging, redeliver later"
    )
    assert elapsed < 1.0  # not after the forwards in flight: at once
    assert len(staging.received) == 2 and answers == [200, 200]
    assert redis_client.hget(store.keys().stats, "forwarded:staging_busy") == "1"
    # The slots are free again.
    staging.delay = 0
    assert deliver(payload_of(staging_account())).status_code == 200


class ClosingStaging:
    """A staging that accepts connections and closes them at once, counting them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            sock.close()

    def close(self) -> None:
        self.listener.close()


def test_repeated_failures_open_the_circuit_for_a_while(
    deliver: Callable[..., Any], settings: Any, redis_client: redis.Redis
) -> None:
    settings.STAGING_CIRCUIT_FAILURES, settings.STAGING_CIRCUIT_SECONDS = 3, 1
    broken = ClosingStaging()
    settings.RUNNERHUB_ENV, settings.STAGING_URL = "prod", broken.url
    account = staging_account()
    try:
        first = [deliver(payload_of(account)).status_code for _ in range(3)]
        deadline = time.monotonic() + 5
        while broken.accepted < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        while_open = [deliver(payload_of(account)) for _ in range(3)]
        accepted_while_open = broken.accepted
        time.sleep(1.1)  # the circuit's time is up: staging is tried again
        after = deliver(payload_of(account)).status_code
    finally:
        broken.close()

    assert first == [502, 502, 502]
    assert [r.status_code for r in while_open] == [503] * 3
    assert while_open[0].content == b"staging has been failing, not tried; redeliver later"
    assert accepted_while_open == 3  # no connection while open
    assert after == 502 and broken.accepted == 4
    assert redis_client.hget(store.keys().stats, "forwarded:staging_circuit_open") == "3"


def test_a_staging_that_drops_packets_costs_the_connect_timeout_not_the_whole_one(
    deliver: Callable[..., Any], settings: Any
) -> None:
    settings.STAGING_TIMEOUT_SECONDS, settings.STAGING_CONNECT_TIMEOUT_SECONDS = 8, 0.3
    with BlackHole() as hole:
        settings.RUNNERHUB_ENV, settings.STAGING_URL = "prod", hole.url()
        started = time.monotonic()
        response = deliver(payload_of(staging_account()))
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert elapsed < 3  # the connect timeout (0.3 s), far from the 8 s exchange


def test_name_resolution_counts_against_the_deadline(
    deliver: Callable[..., Any], staging: FakeStaging, settings: Any, monkeypatch: Any
) -> None:
    # A resolver that takes 3 s to answer, as a DNS server dropping packets would.
    settings.STAGING_TIMEOUT_SECONDS = 0.5
    real = socket.getaddrinfo
    gate = threading.Event()

    def slow_resolver(*args: Any, **kwargs: Any) -> Any:
        gate.wait(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    settings.STAGING_URL = staging.url.replace("127.0.0.1", "localhost")
    started = time.monotonic()
    response = deliver(payload_of(staging_account()))
    elapsed = time.monotonic() - started
    gate.set()

    assert response.status_code == 504
    assert elapsed < 2
    assert staging.received == []
