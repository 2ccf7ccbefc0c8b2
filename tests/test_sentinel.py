"""Redis Sentinel: the primary killed under a real gunicorn (2 workers) and a stream of signed
deliveries, a replica promoted, and the webhook following it without a restart.

A primary, two replicas and three redis-sentinel processes on loopback (harness/redis_server.py).
RunnerHub finds the primary through the sentinels (REDIS_SENTINELS; its REDIS_URL points at
nothing) and answers 2xx only once a replica holds the delivery (REDIS_MIN_REPLICAS_ACK, 1 by
default with Sentinel): every delivery answered 2xx is in Redis after the failover, every other
one got a 503, and the 503s succeed when redelivered.
"""
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from harness.redis_server import SentinelGroup, free_port
from harness.servers import Gunicorn
from tests.delivery_stream import DeliveryStream, job_problems, redeliver, unrecorded

UNAVAILABLE = "redis unavailable, redeliver later"


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    group = SentinelGroup(replicas=2, sentinels=3).start()
    yield group
    group.cleanup()


@pytest.fixture(scope="module")
def server(group: SentinelGroup) -> Iterator[Gunicorn]:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # unused with REDIS_SENTINELS
    env = {"REDIS_SENTINELS": group.addresses, "REDIS_SENTINEL_MASTER": group.service}
    with Gunicorn(nowhere, workers=2, env=env) as gunicorn:
        yield gunicorn


@pytest.mark.slow
def test_after_a_failover_every_acknowledged_delivery_is_in_the_new_primary(
    group: SentinelGroup, server: Gunicorn
) -> None:
    workers = server.worker_pids()
    old_primary = group.primary_port()

    with DeliveryStream(server.port, clients=4) as stream:
        stream.wait_for(200, 100)
        killed_at = time.monotonic()
        group.server(old_primary).kill()
        new_primary = group.wait_for_promotion(old_primary)
        promoted_at = time.monotonic()
        stream.wait_for(200, 100, after=promoted_at)
    sent = stream.sent

    answers = Counter(s.status for s in sent)
    assert set(answers) == {200, 503}, answers  # no 500, no connection failure, no hang
    assert all(s.body == UNAVAILABLE for s in sent if s.status == 503)
    assert all(killed_at - 1 <= s.sent_at <= promoted_at + 2 for s in sent if s.status == 503)
    client = group.primary_client()
    assert group.primary_port() == new_primary.port != old_primary
    assert unrecorded(client, sent) == []
    assert job_problems(client) == []
    assert server.worker_pids() == workers  # followed the failover, no worker restarted

    again = redeliver(server.port, [s for s in sent if s.status == 503])

    assert Counter(s.status for s in again) == {200: answers[503]}
    statuses = Counter(client.hget(f"prod:job:{s.job_id}", "status") for s in sent)
    assert statuses == {"completed": len(sent)}
    assert job_problems(client) == []
