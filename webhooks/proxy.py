"""Staging forwarding: production hands the deliveries of staging accounts to staging.

One GitHub App serves both deployments. Production checks the signature first, then passes the
raw body and GitHub's headers on unchanged, so staging checks the same signature over the same
bytes; GitHub gets staging's status and body back. When staging cannot answer, GitHub gets a
502 or 504, shows the delivery as failed, and it can be redelivered.

A staging that fails must not take production's threads with it: each process forwards at most
STAGING_MAX_FORWARDS deliveries at once (503 at once past that), connects within
STAGING_CONNECT_TIMEOUT_SECONDS, resolves staging's name within the same deadline as the rest of
the exchange, and after STAGING_CIRCUIT_FAILURES failures in a row stops trying for
STAGING_CIRCUIT_SECONDS (503 without a connection).
"""
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import HttpHeaders

from webhooks import delivery_settings
from webhooks.config import Snapshot
from webhooks.outcomes import Outcome, Reason, Reply, Result, quoted

log = logging.getLogger(__name__)

# What GitHub sends that staging needs: event, delivery id, hook ids, signatures, body type.
FORWARDED_PREFIXES = ("x-github-", "x-hub-signature")
FORWARDED_NAMES = frozenset({"content-type", "user-agent"})
# The hop header a forwarded delivery carries: a deployment never forwards one that has it, so
# a STAGING_URL that leads back to production cannot make a delivery go round.
HOP_HEADER = "X-RunnerHub-Forwarded-By"
HOP_ENVIRON = "HTTP_" + HOP_HEADER.upper().replace("-", "_")
# Staging answers with a line of text; anything longer is cut rather than held in memory.
MAX_REPLY_BYTES = 64 * 1024
_TEXT = "text/plain; charset=utf-8"
# Name resolution cannot be interrupted, so it runs here and the delivery waits for it only as
# long as its deadline allows; a resolver that hangs holds these threads, not the request's.
_resolver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="staging-dns")


def hopped(environ: Mapping[str, Any]) -> bool:
    """Whether a RunnerHub deployment forwarded this delivery here."""
    return bool(environ.get(HOP_ENVIRON))


def forwarded_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The headers staging needs, picked from a request's WSGI environ, and the hop header."""
    headers = {
        name: value
        for name, value in HttpHeaders(environ).items()
        if name.lower() in FORWARDED_NAMES or name.lower().startswith(FORWARDED_PREFIXES)
    }
    headers[HOP_HEADER] = delivery_settings.current().env
    return headers


def should_forward(snapshot: Snapshot, owner_id: int | None, hopped: bool = False) -> bool:
    """Whether a `workflow_job` delivery of `owner_id` belongs to staging.

    Only production forwards, only when STAGING_URL is set, only for accounts flagged staging
    in `snapshot`, and never a delivery that was forwarded already (`hopped`). A blocked
    account is not forwarded: blocking wins.
    """
    if owner_id not in snapshot.staging or owner_id in snapshot.blocked or hopped:
        return False
    current = delivery_settings.current()
    return current.env == "prod" and bool(current.staging_url)


class _Breaker:
    """The forwards in flight in this process, and the failures in a row that open the circuit.

    The limits are read from settings on every call, so that a test's override applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.failures = 0
        self.open_until = 0.0

    def enter(self) -> Reason | None:
        """Take a forwarding slot, or say why not (busy, or the circuit is open)."""
        with self._lock:
            if self.failures >= settings.STAGING_CIRCUIT_FAILURES and (
                time.monotonic() < self.open_until
            ):
                return Reason.STAGING_CIRCUIT_OPEN
            if self.in_flight >= settings.STAGING_MAX_FORWARDS:
                return Reason.STAGING_BUSY
            self.in_flight += 1
            return None

    def leave(self, failed: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            if not failed:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= settings.STAGING_CIRCUIT_FAILURES:
                # Open, or open again after a trial that failed.
                self.open_until = time.monotonic() + settings.STAGING_CIRCUIT_SECONDS

    def reset(self) -> None:
        with self._lock:
            self.in_flight, self.failures, self.open_until = 0, 0, 0.0


breaker = _Breaker()


def forward(body: bytes, headers: Mapping[str, str], delivery_id: str) -> Result:
    """POST the delivery as it came (`body`, and `headers` from forwarded_headers) to STAGING_URL and return staging's answer as a `forwarded` result.

    Reads nothing and writes nothing here: a forwarded delivery is staging's to record. The
    whole exchange, name resolution included, is bounded by STAGING_TIMEOUT_SECONDS, under
    GitHub's 10 s, and the connection by STAGING_CONNECT_TIMEOUT_SECONDS. Connection refused or
    any other network failure answers 502, a timeout 504; past STAGING_MAX_FORWARDS forwards in
    flight, or while the circuit is open, 503 at once. Every failure is logged with the
    delivery id.
    """
    refused = breaker.enter()
    if refused is not None:
        kind = "busy" if refused == Reason.STAGING_BUSY else "circuit_open"
        return _failed(delivery_id, refused, kind, 503)
    failed = True
    try:
        reply = _post(settings.STAGING_URL, body, headers, float(settings.STAGING_TIMEOUT_SECONDS))
        failed = False
    except ConnectionRefusedError:
        return _failed(delivery_id, Reason.STAGING_REFUSED, "refused", 502)
    except TimeoutError:
        return _failed(delivery_id, Reason.STAGING_TIMEOUT, "timeout", 504)
    except (OSError, http.client.HTTPException) as exc:
        return _failed(delivery_id, Reason.STAGING_ERROR, "error", 502, type(exc).__name__)
    finally:
        breaker.leave(failed)
    log.info("proxy.forwarded delivery=%s status=%s", quoted(delivery_id), reply.status)
    return Result(Outcome.FORWARDED, reply=reply)


_FAILURE_WORDS = {
    "refused": "staging refused the connection, redeliver later",
    "timeout": "staging did not answer in time, redeliver later",
    "error": "staging could not be reached, redeliver later",
    "busy": "too many deliveries on their way to staging, redeliver later",
    "circuit_open": "staging has been failing, not tried; redeliver later",
}


def _failed(delivery_id: str, reason: Reason, kind: str, status: int, error: str = "") -> Result:
    log.error(
        "proxy.failed delivery=%s kind=%s status=%s%s",
        quoted(delivery_id),
        kind,
        status,
        f" error={error}" if error else "",
    )
    reply = Reply(status, _FAILURE_WORDS[kind].encode(), _TEXT)
    return Result(Outcome.FORWARDED, reason, reply=reply)


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Reply:
    """One POST without redirects; `timeout` bounds the whole exchange, not each read."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = _connect(host, port, deadline)
    try:
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    # The connection is already made, within the deadline: http.client only talks over it.
    connection = http.client.HTTPConnection(host, parts.port)
    connection.sock = sock
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        _set_remaining(sock, deadline)
        connection.request("POST", target, body=body, headers=dict(headers))
        _set_remaining(sock, deadline)
        response = connection.getresponse()
        answer = bytearray()
        # The response closes the socket as soon as it has read the whole body.
        while not response.isclosed() and len(answer) < MAX_REPLY_BYTES:
            _set_remaining(sock, deadline)
            chunk = response.read1(min(8192, MAX_REPLY_BYTES - len(answer)))  # one recv at most
            if not chunk:
                break
            answer += chunk
        content_type = response.getheader("Content-Type") or _TEXT
        if not 100 <= response.status <= 599:
            raise http.client.HTTPException(f"status {response.status}")
        return Reply(response.status, bytes(answer), content_type)
    finally:
        connection.close()
        sock.close()


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection to staging: the name resolved within the deadline, each address tried
    for at most STAGING_CONNECT_TIMEOUT_SECONDS (a staging that drops packets costs that, not
    the whole timeout)."""
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    addresses = lookup.result(timeout=_remaining(deadline))  # TimeoutError past the deadline
    last: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _, address in addresses:
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(min(settings.STAGING_CONNECT_TIMEOUT_SECONDS, _remaining(deadline)))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if isinstance(exc, TimeoutError) and _remaining(deadline, strict=False) <= 0:
                break
    raise last


def _remaining(deadline: float, strict: bool = True) -> float:
    remaining = deadline - time.monotonic()
    if strict and remaining <= 0:
        raise TimeoutError("staging timeout")
    return remaining


def _set_remaining(sock: socket.socket, deadline: float) -> None:
    sock.settimeout(_remaining(deadline))
