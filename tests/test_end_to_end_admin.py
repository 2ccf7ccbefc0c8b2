"""The admin against real gunicorn with DEBUG off: a change reaches every worker's next delivery."""
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import redis

from harness.factories import WorkflowJobPayloadFactory
from harness.servers import Gunicorn
from harness.webhook_client import post_delivery
from tests.admin_session import AdminSession

# The server's database holds what the test depends on: run on PostgreSQL too.
pytestmark = [pytest.mark.slow, pytest.mark.database]

USERNAME, PASSWORD = "maintainer", "a-long-password-for-the-test-maintainer"
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[Gunicorn]:
    # Sync workers, one request each: a held connection then ties up a whole worker, which is
    # how `through_every_worker` reaches each one in turn.
    with Gunicorn(os.environ["REDIS_URL"], workers=2, worker_class="sync") as running:
        running.create_superuser(USERNAME, PASSWORD)
        yield running


def through_every_worker(server: Gunicorn, send: Callable[[], T]) -> dict[int, T]:
    """Call `send` once per worker, each time with every other worker held busy, so that each
    worker certainly serves one call. Returns what each call returned, by worker pid."""
    workers = server.worker_pids()
    held = [server.hold_worker() for _ in range(len(workers) - 1)]
    [free] = workers - {hold.pid for hold in held}
    served = {free: send()}
    for hold in list(held):
        # The worker that just served is the only free one, so it takes the new hold.
        replacement = server.hold_worker()
        assert replacement.pid == free
        held.remove(hold)
        held.append(replacement)
        hold.release()
        served[hold.pid] = send()
        free = hold.pid
    for hold in held:
        hold.release()
    assert set(served) == workers
    return served


def test_a_mapping_saved_in_the_admin_moves_the_next_delivery_in_every_worker(
    server: Gunicorn, redis_client: redis.Redis
) -> None:
    def deliver() -> tuple[int, str, str | None]:
        payload = WorkflowJobPayloadFactory()
        status, body, _ = post_delivery(server.url, payload)
        job_key = f"prod:job:{payload['workflow_job']['id']}"
        return status, body, redis_client.hget(job_key, "k8s_pool")

    mapping_id = server.shell(
        "from webhooks.models import LabelMapping; "
        "print(LabelMapping.objects.get(label='ubuntu-24.04-riscv').pk)"
    )
    before = through_every_worker(server, deliver)
    admin = AdminSession(server.url)
    admin.log_in(USERNAME, PASSWORD)

    status, url, page = admin.post(
        f"/admin/webhooks/labelmapping/{mapping_id}/change/",
        {
            "label": "ubuntu-24.04-riscv",
            "extra_labels": "",
            "pool": "scw-em-rv2",
            "image": "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest",
            "owner_id": "",
            "repo_glob": "",
            "priority": "100",
            "enabled": "on",
            "note": "moved to the new boards",
            "_save": "Save",
        },
    )
    after = through_every_worker(server, deliver)

    assert len(before) == 2
    for status_before, body, pool in before.values():
        assert (status_before, pool) == (200, "scw-em-rv1")
        assert body.endswith("pending in pool scw-em-rv1")
    assert (status, url) == (200, f"{server.url}/admin/webhooks/labelmapping/")
    assert "was changed successfully" in page
    assert set(after) == set(before)
    for status_after, body, pool in after.values():
        assert (status_after, pool) == (200, "scw-em-rv2")
        assert body.endswith("pending in pool scw-em-rv2")


def test_an_anonymous_visitor_gets_the_login_page(server: Gunicorn) -> None:
    status, url, page = AdminSession(server.url).get("/admin/webhooks/account/")

    assert (status, url) == (200, f"{server.url}/admin/login/?next=/admin/webhooks/account/")
    assert "RunnerHub administration" in page
    assert 'name="password"' in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/webhooks/labelmapping/",
        "/admin/webhooks/labelmapping/?scope=global&enabled__exact=1",
        "/admin/webhooks/labelmapping/add/",
        "/admin/webhooks/account/",
        "/admin/webhooks/account/add/",
        "/admin/webhooks/labelmapping/preview/?runs_on=ubuntu-24.04-riscv&owner_id=1&repository=r",
    ],
)
def test_the_admin_pages_and_their_static_files_work_with_debug_off(
    server: Gunicorn, path: str
) -> None:
    admin = AdminSession(server.url)
    admin.log_in(USERNAME, PASSWORD)

    status, _, page = admin.get(path)

    assert status == 200
    assert "RunnerHub administration" in page
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', page)
    # Hashed names: the manifest storage of production, served by whitenoise.
    assert any(re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css$", s) for s in stylesheets)
    if "preview" in path:
        assert any(re.search(r"/runnerhub/admin\.[0-9a-f]{12}\.css$", s) for s in stylesheets)
        assert 'Pool <strong class="preview-pool">scw-em-rv' in page
    for stylesheet in stylesheets:
        with urllib.request.urlopen(server.url + stylesheet, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/css")
