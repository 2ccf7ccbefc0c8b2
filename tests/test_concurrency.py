"""Many deliveries at once against a real gunicorn: nothing lost, nothing counted twice."""
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.servers import Gunicorn
from harness.webhook_client import post_delivery

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

JOBS = 500
CLIENTS = 16


def test_500_jobs_from_16_clients_are_each_recorded_once_then_completed(
    redis_server, redis_client
) -> None:
    owners = [WorkflowJobPayloadFactory()["repository"] for _ in range(5)]
    payloads = [WorkflowJobPayloadFactory(repository=owners[n % 5]) for n in range(JOBS)]
    with Gunicorn(redis_server.url, workers=2) as server, ThreadPoolExecutor(CLIENTS) as pool:
        queued = list(pool.map(lambda p: post_delivery(server.url, p)[:2], payloads))
        assert Counter(status for status, _ in queued) == {200: JOBS}
        assert all(body.startswith("stored: ") for _, body in queued)
        pools = [f"prod:pool:{repo['owner']['id']}:scw-em-rv1:jobs" for repo in owners]
        assert sum(redis_client.scard(key) for key in pools) == JOBS
        assert redis_client.zcard("prod:history") == JOBS

        done = [same_job(p, "completed", conclusion="success") for p in payloads]
        completed = list(pool.map(lambda p: post_delivery(server.url, p)[:2], done))
        assert Counter(status for status, _ in completed) == {200: JOBS}

    assert all(redis_client.scard(key) == 0 for key in pools)
    statuses = Counter(
        redis_client.hget(f"prod:job:{p['workflow_job']['id']}", "status") for p in payloads
    )
    assert statuses == {"completed": JOBS}
    assert redis_client.hgetall("prod:stats") == {"stored": str(JOBS), "updated": str(JOBS)}
    assert redis_client.xlen("prod:events") == 2 * JOBS
