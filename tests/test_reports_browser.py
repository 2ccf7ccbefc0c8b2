"""The report pages in a real browser, served by gunicorn with production settings."""
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from harness.browser import headless_chromium
from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import json_delivery_headers

pytestmark = pytest.mark.slow


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[Gunicorn]:
    with Gunicorn(redis_server.url, workers=2) as gunicorn:
        yield gunicorn


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as chromium:
        yield chromium


def post(server: Gunicorn, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        server.url + "/", data=body, method="POST",
        headers=json_delivery_headers(body),
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_usage_shows_the_jobs_and_redraws_itself_after_a_delivery(server, browser, redis_client):
    waiting = WorkflowJobPayloadFactory(workflow_job__name="waiting job")
    post(server, waiting)
    page = browser.new_page()

    page.goto(server.url + "/usage")

    expect(page.locator(f'tr.job[data-job-id="{waiting["workflow_job"]["id"]}"]')).to_be_visible()
    expect(page.get_by_text("waiting job")).to_be_visible()
    first_drawn = page.locator(".drawn time").get_attribute("datetime")
    page.evaluate("window.stillTheSamePage = true")

    newcomer = WorkflowJobPayloadFactory(workflow_job__name="newcomer job")
    post(server, newcomer)
    post(server, same_job(waiting, "in_progress"))

    row = page.locator(f'tr.job[data-job-id="{newcomer["workflow_job"]["id"]}"]')
    expect(row).to_be_visible(timeout=20_000)
    expect(
        page.locator(f'tr.job[data-job-id="{waiting["workflow_job"]["id"]}"] .badge')
    ).to_have_text("running")
    assert page.evaluate("window.stillTheSamePage") is True  # redrawn in place, not reloaded
    assert page.locator(".drawn time").get_attribute("datetime") >= first_drawn
    assert page.locator("#refresh-state").inner_text() == ""
    assert redis_client.hget(f"prod:job:{waiting['workflow_job']['id']}", "status") == "running"
    page.close()


def test_history_shows_the_jobs_and_the_chart(server, browser, redis_client):
    payloads = [WorkflowJobPayloadFactory() for _ in range(4)]
    for payload in payloads:
        post(server, payload)
        post(server, same_job(payload, "in_progress"))
        post(server, same_job(payload, "completed", conclusion="success"))
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone

    page.goto(server.url + "/history")

    rows = page.locator("tr.job")
    expect(rows).to_have_count(4)
    expect(rows.first).to_be_visible()
    expect(page.locator("svg.bars")).to_be_visible()
    expect(page.locator("svg.bars rect.bar")).to_have_count(1)  # one day, one pool
    assert page.locator("svg.bars").bounding_box()["width"] <= 390
    # Styles came through whitenoise with DEBUG off: the badge is coloured, not plain text.
    badge = page.locator("tr.job .badge.status-completed").first
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert redis_client.zcard("prod:history") == 4
    page.close()
