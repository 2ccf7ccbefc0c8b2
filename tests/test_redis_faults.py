"""Redis failing under a real gunicorn (2 workers) and a steady stream of signed deliveries.

Whatever Redis does, every delivery answered 2xx is recorded, every other one got a 503 within
Redis's timeouts (never a 500, never a hang), and redelivering the 503s once Redis is back
leaves every job completed and no pool holding a completed job. Redis runs with the
persistence the README recommends for production: appendonly yes, appendfsync always.
"""
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django_redis import get_redis_connection

from harness.factories import WorkflowJobPayloadFactory
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from tests.delivery_stream import DeliveryStream, job_problems, redeliver, unrecorded


OUTAGE_SECONDS = 3
UNAVAILABLE = "redis unavailable, redeliver later"


@pytest.fixture(scope="module")
def durable_redis() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def server(durable_redis: RedisServer) -> Iterator[Gunicorn]:
    with Gunicorn(durable_redis.url, workers=2) as gunicorn:
        yield gunicorn


@pytest.fixture
def store(durable_redis: RedisServer) -> redis.Redis:
    if durable_redis.process is None:
        durable_redis.start()
    client = durable_redis.client()
    client.flushall()
    return client


def stopped(redis_server: RedisServer) -> None:
    """Shut down as a service manager does (SIGTERM), down for a few seconds, started again."""
    redis_server.stop()
    time.sleep(OUTAGE_SECONDS)
    redis_server.start()


def killed(redis_server: RedisServer) -> None:
    """Killed outright (SIGKILL), then started again on the same data directory: what it
    acknowledged must come back from the append-only file."""
    redis_server.kill()
    time.sleep(OUTAGE_SECONDS)
    redis_server.start()


def frozen(redis_server: RedisServer) -> None:
    """Still accepting connections but answering nothing (SIGSTOP), then resumed: a hung host
    or a long pause. Only Redis's socket timeouts can end the requests waiting on it."""
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        time.sleep(OUTAGE_SECONDS)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)


@pytest.mark.slow
@pytest.mark.parametrize("fault", [stopped, killed, frozen], ids=lambda fault: fault.__name__)
def test_every_acknowledged_delivery_is_recorded_and_every_other_one_got_503(
    server: Gunicorn,
    durable_redis: RedisServer,
    store: redis.Redis,
    fault: Callable[[RedisServer], None],
) -> None:
    with DeliveryStream(server.port, clients=4) as stream:
        stream.wait_for(200, 100)
        broken_at = time.monotonic()
        fault(durable_redis)
        recovered_at = time.monotonic()
        stream.wait_for(200, 100, after=recovered_at)
    sent = stream.sent

    answers = Counter(s.status for s in sent)
    assert set(answers) == {200, 503}, answers  # no 500, no connection failure, no hang
    assert all(s.body == UNAVAILABLE for s in sent if s.status == 503)
    assert all(broken_at - 1 <= s.sent_at <= recovered_at for s in sent if s.status == 503)
    client = durable_redis.client()
    assert unrecorded(client, sent) == []
    assert job_problems(client) == []

    again = redeliver(server.port, [s for s in sent if s.status == 503])

    assert Counter(s.status for s in again) == {200: answers[503]}
    statuses = Counter(client.hget(f"prod:job:{s.job_id}", "status") for s in sent)
    assert statuses == {"completed": len(sent)}
    assert job_problems(client) == []
    pools = client.smembers("prod:pools")
    assert pools and all(client.scard(f"prod:pool:{pool}:jobs") == 0 for pool in pools)


@pytest.mark.django_db
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled connection", "new connection"])
def test_a_redis_that_accepts_connections_but_never_answers_gets_503(
    deliver: Callable[..., Any], redis_server: RedisServer, pooled: bool
) -> None:
    deliver(WorkflowJobPayloadFactory())  # mappings cached, a connection in the pool
    if not pooled:
        get_redis_connection("default").connection_pool.disconnect()
    payload = WorkflowJobPayloadFactory()
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        response = deliver(payload)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)

    assert (response.status_code, response.content.decode()) == (503, UNAVAILABLE)
    assert deliver(payload).status_code == 200
