"""Signed deliveries, as GitHub sends them, for tests and benchmarks."""
import io
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from webhooks.signatures import sign

TEST_SECRET = "runnerhub-test-webhook-secret-0123456789"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "github"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_of(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def github_headers(
    body: bytes, event: str = "workflow_job", secret: str | None = TEST_SECRET
) -> dict[str, str]:
    """The headers GitHub sends with `body`, signed with `secret` (unsigned when None); the
    tests, benchmarks and screenshot scripts all sign through here."""
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/test",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret.encode())
    return headers


def json_delivery_headers(body: bytes, event: str = "workflow_job", secret: str = TEST_SECRET) -> dict[str, str]:
    """`github_headers` plus the JSON body type, for requests made outside Django's test client."""
    return {**github_headers(body, event, secret), "Content-Type": "application/json"}


def deliver_to(
    client: Client,
    payload: dict[str, Any] | bytes,
    event: str = "workflow_job",
    secret: str | None = TEST_SECRET,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    body = body_of(payload)
    content_type = "application/json"
    if form:
        body = urlencode({"payload": body.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    sent = github_headers(body, event, secret)
    sent.update(headers or {})
    return client.post("/", data=body, content_type=content_type, headers=sent)


def post_delivery(
    url: str,
    payload: dict[str, Any] | bytes,
    event: str = "workflow_job",
    secret: str | None = TEST_SECRET,
    timeout: float = 15,
) -> tuple[int, str, str]:
    """POST a signed delivery to a running server, as GitHub does: (status, body, delivery id)."""
    body = body_of(payload)
    headers = json_delivery_headers(body, event, secret)
    request = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), headers["X-GitHub-Delivery"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), headers["X-GitHub-Delivery"]


def call_wsgi(
    app: Any, method: str = "POST", path: str = "/", body: bytes = b"", headers: dict | None = None,
    environ: dict | None = None,
) -> tuple[str, dict[str, str], bytes]:  # fmt: skip
    """Call a WSGI application as a server would, closing the result (PEP 3333): (status,
    headers, body)."""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "QUERY_STRING": "", **(environ or {}),
    }  # fmt: skip
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    result = app(env, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):  # as a WSGI server must (PEP 3333)
            result.close()
    return seen["status"], seen["headers"], content
