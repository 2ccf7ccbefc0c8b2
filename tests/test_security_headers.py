"""Security headers on every response, and a content security policy that the pages keep."""
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from harness.browser import headless_chromium
from harness.factories import AccountFactory, LabelMappingFactory, WorkflowJobPayloadFactory, same_job
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import TEST_SECRET, body_of, github_headers, post_delivery

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains; preload"
PAGES = ["/usage", "/usage?fragment=live", "/history", "/admin/login/"]
OTHERS = ["/usage.json", "/history.json", "/metrics", "/health"]
STAFF_PAGES = [
    "/admin/",
    "/admin/webhooks/labelmapping/",
    "/admin/webhooks/labelmapping/add/",
    "/admin/webhooks/account/",
    "/admin/webhooks/account/add/",
    "/admin/webhooks/labelmapping/preview/?runs_on=ubuntu-24.04-riscv&owner_id=1&repository=r",
]


@pytest.fixture
def production_headers(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True


@pytest.fixture
def some_jobs(deliver: Callable[..., Any]) -> None:
    for n in range(3):
        payload = WorkflowJobPayloadFactory(workflow_job__name=f"<script>alert({n})</script>")
        deliver(payload)
        if n:
            deliver(same_job(payload, "in_progress"))


def assert_common_headers(response: Any) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_the_security_headers_and_the_policy(
    client: Client, production_headers: None, some_jobs: None, path: str
) -> None:
    response = client.get(path, secure=True)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert_common_headers(response)
    assert response["Content-Security-Policy"] == POLICY


@pytest.mark.parametrize("path", OTHERS)
def test_other_answers_send_the_security_headers(
    client: Client, production_headers: None, path: str
) -> None:
    response = client.get(path, secure=True)

    assert response.status_code == 200
    assert not response["Content-Type"].startswith("text/html")
    assert_common_headers(response)


@pytest.mark.parametrize("secret", [TEST_SECRET, "not-the-secret"])
def test_the_webhooks_answers_send_the_security_headers(
    client: Client, production_headers: None, secret: str
) -> None:
    body = body_of(WorkflowJobPayloadFactory())
    headers = github_headers(body, secret=secret)

    response = client.post(
        "/", data=body, content_type="application/json", headers=headers, secure=True
    )

    assert response.status_code == (200 if secret == TEST_SECRET else 401)
    assert_common_headers(response)


def test_an_error_page_sends_the_policy(client: Client, production_headers: None) -> None:
    response = client.get("/no-such-page", secure=True)

    assert response.status_code == 404
    assert_common_headers(response)
    assert response["Content-Security-Policy"] == POLICY


def test_the_policy_allows_no_inline_script_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in POLICY.split(";"))

    assert directives["script-src"] == "'self'"
    assert "unsafe" not in POLICY
    assert directives["frame-ancestors"] == "'none'"


INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def inline_code(page: str) -> list[str]:
    return [name for name, pattern in INLINE.items() if pattern.search(page)]


@pytest.mark.parametrize("path", ["/usage", "/history", "/usage?fragment=live"])
def test_the_report_pages_hold_nothing_the_policy_would_block(
    client: Client, some_jobs: None, path: str
) -> None:
    page = client.get(path).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the jobs are there, escaped
    assert inline_code(page) == []


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_the_admin_pages_hold_nothing_the_policy_would_block(
    admin_client: Client, path: str
) -> None:
    LabelMappingFactory()
    AccountFactory()

    response = admin_client.get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    assert inline_code(response.content.decode()) == []


# In a real browser: Chromium reports every resource and every script the policy blocked.

USERNAME, PASSWORD = "maintainer", "a-long-password-for-the-test-maintainer"


@pytest.fixture(scope="module")
def production_server() -> Iterator[Gunicorn]:
    redis_server = RedisServer().start()
    try:
        with Gunicorn(redis_server.url, workers=1) as server:
            server.create_superuser(USERNAME, PASSWORD)
            yield server
    finally:
        redis_server.cleanup()


@pytest.mark.slow
def test_chromium_blocks_nothing_on_the_report_and_admin_pages(
    production_server: Gunicorn,
) -> None:
    server = production_server
    payload = WorkflowJobPayloadFactory()
    assert post_delivery(server.url, payload)[0] == 200
    assert post_delivery(server.url, same_job(payload, "completed"))[0] == 200
    assert post_delivery(server.url, WorkflowJobPayloadFactory())[0] == 200
    violations: list[str] = []
    with headless_chromium() as browser:
        page = browser.new_page()
        page.on(
            "console",
            lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text
            else None,
        )
        page.goto(server.url + "/admin/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(server.url + "/admin/")
        for path in ["/usage", "/history", *STAFF_PAGES]:
            response = page.goto(server.url + path)
            assert response is not None and response.status == 200, path
            assert response.headers["content-security-policy"] == POLICY
        # The admin's scripts ran: the filter sidebar and the select-all box are wired up.
        page.goto(server.url + "/admin/webhooks/labelmapping/")
        page.check("#action-toggle")
        assert page.locator("input.action-select:checked").count() >= 1
        # /usage's refresh script ran and fetched the live part.
        with page.expect_response(lambda r: "fragment=live" in r.url, timeout=15_000):
            page.goto(server.url + "/usage")

    assert violations == []
