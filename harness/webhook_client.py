"""Signed deliveries, as GitHub sends them, for tests and benchmarks."""
import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http.request import HttpHeaders
from django.utils.datastructures import CaseInsensitiveMapping

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


@dataclass(frozen=True)
class Answer:
    """A WSGI application's answer, read as a Django test response is: status_code, content,
    and headers by name in any case (`answer["Content-Type"]`)."""

    status_code: int
    headers: CaseInsensitiveMapping
    content: bytes

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


@contextmanager
def connections_kept() -> Iterator[None]:
    """What Django's test client does around a request: the request signals are sent without
    close_old_connections, which would close the connection of a test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def post_to(app: Any, body: bytes, content_type: str, headers: dict[str, str]) -> Answer:
    """POST `body` to `/` of the WSGI application `app`, as gunicorn calls it, within the
    test's database transaction."""
    with connections_kept():
        status, answered, content = call_wsgi(
            app, body=body, headers=headers, environ={"CONTENT_TYPE": content_type}
        )
    return Answer(int(status.split()[0]), CaseInsensitiveMapping(answered), content)


def signed_delivery(
    payload: dict[str, Any] | bytes,
    event: str = "workflow_job",
    secret: str | None = TEST_SECRET,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str, dict[str, str]]:
    """`payload` as GitHub sends it, JSON or form-encoded, signed with `secret` (unsigned when
    None), `headers` added or replacing GitHub's: (body, content type, headers)."""
    body = body_of(payload)
    content_type = "application/json"
    if form:
        body = urlencode({"payload": body.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    sent = github_headers(body, event, secret)
    sent.update(headers or {})
    return body, content_type, sent


def deliver_to(app: Any, payload: dict[str, Any] | bytes, **how: Any) -> Answer:
    """Deliver `payload` (signed as `signed_delivery` takes `how`) to the WSGI application
    `app`: the one gunicorn serves, or Django's alone."""
    return post_to(app, *signed_delivery(payload, **how))


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


def wsgi_environ(
    method: str = "POST", path: str = "/", body: bytes = b"", headers: dict | None = None,
    environ: dict | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The WSGI environ a server would pass for this request; `environ` adds or overrides."""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "QUERY_STRING": "", **(environ or {}),
    }  # fmt: skip
    for name, value in (headers or {}).items():
        env[HttpHeaders.to_wsgi_name(name)] = value  # Content-Type without HTTP_, as servers do
    return env


def call_wsgi(
    app: Any, method: str = "POST", path: str = "/", body: bytes = b"", headers: dict | None = None,
    environ: dict | None = None,
) -> tuple[str, dict[str, str], bytes]:  # fmt: skip
    """Call a WSGI application as a server would, closing the result (PEP 3333): (status,
    headers, body)."""
    env = wsgi_environ(method, path, body, headers, environ)
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
