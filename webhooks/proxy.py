"""Staging forwarding: production hands the deliveries of staging accounts to staging.

One GitHub App serves both deployments. Production checks the signature first, then passes the
raw body and GitHub's headers on unchanged, so staging checks the same signature over the same
bytes; GitHub gets staging's status and body back. When staging cannot answer, GitHub gets a
502 or 504, shows the delivery as failed, and it can be redelivered.
"""
import http.client
import logging
import socket
import time
from collections.abc import Mapping
from typing import Any
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import HttpHeaders

from webhooks.config import Snapshot
from webhooks.outcomes import Outcome, Reason, Reply, Result

log = logging.getLogger(__name__)

# What GitHub sends that staging needs: event, delivery id, hook ids, signatures, body type.
FORWARDED_PREFIXES = ("x-github-", "x-hub-signature")
FORWARDED_NAMES = frozenset({"content-type", "user-agent"})
# Staging answers with a line of text; anything longer is cut rather than held in memory.
MAX_REPLY_BYTES = 64 * 1024
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RawDelivery:
    """A delivery as it arrived: the bytes GitHub signed, and the request's WSGI environ from
    which the headers staging needs are picked only when the delivery is forwarded."""

    body: bytes
    environ: Mapping[str, Any]

    def headers(self) -> dict[str, str]:
        return {
            name: value
            for name, value in HttpHeaders(self.environ).items()
            if name.lower() in FORWARDED_NAMES or name.lower().startswith(FORWARDED_PREFIXES)
        }


def should_forward(snapshot: Snapshot, owner_id: int | None) -> bool:
    """Whether a `workflow_job` delivery of `owner_id` belongs to staging.

    Only production forwards, only when STAGING_URL is set, and only for accounts flagged
    staging in `snapshot`. A blocked account is not forwarded: blocking wins.
    """
    return (
        settings.RUNNERHUB_ENV == "prod"
        and bool(settings.STAGING_URL)
        and owner_id in snapshot.staging
        and owner_id not in snapshot.blocked
    )


def forward(raw: RawDelivery, delivery_id: str) -> Result:
    """POST `raw` to STAGING_URL and return staging's answer as a `forwarded` result.

    Reads nothing and writes nothing here: a forwarded delivery is staging's to record. The
    whole exchange is bounded by STAGING_TIMEOUT_SECONDS, under GitHub's 10 s. Connection
    refused or any other network failure answers 502, a timeout 504; both are logged with the
    delivery id.
    """
    try:
        reply = _post(settings.STAGING_URL, raw, float(settings.STAGING_TIMEOUT_SECONDS))
    except ConnectionRefusedError:
        return _failed(delivery_id, Reason.STAGING_REFUSED, "refused", 502)
    except TimeoutError:
        return _failed(delivery_id, Reason.STAGING_TIMEOUT, "timeout", 504)
    except (OSError, http.client.HTTPException) as exc:
        return _failed(delivery_id, Reason.STAGING_ERROR, "error", 502, type(exc).__name__)
    log.info("proxy.forwarded delivery=%s status=%s", delivery_id, reply.status)
    return Result(Outcome.FORWARDED, reply=reply)


_FAILURE_WORDS = {
    "refused": "staging refused the connection, redeliver later",
    "timeout": "staging did not answer in time, redeliver later",
    "error": "staging could not be reached, redeliver later",
}


def _failed(delivery_id: str, reason: Reason, kind: str, status: int, error: str = "") -> Result:
    log.error(
        "proxy.failed delivery=%s kind=%s status=%s%s",
        delivery_id,
        kind,
        status,
        f" error={error}" if error else "",
    )
    reply = Reply(status, _FAILURE_WORDS[kind].encode(), _TEXT)
    return Result(Outcome.FORWARDED, reason, reply=reply)


def _post(url: str, raw: RawDelivery, timeout: float) -> Reply:
    """One POST without redirects; `timeout` bounds the whole exchange, not each read."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        _set_remaining(connection.sock, deadline)
        connection.request("POST", target, body=raw.body, headers=raw.headers())
        # Kept here: the connection hands its socket over to a response that closes it.
        sock = connection.sock
        _set_remaining(sock, deadline)
        response = connection.getresponse()
        body = bytearray()
        # The response closes the socket as soon as it has read the whole body.
        while not response.isclosed() and len(body) < MAX_REPLY_BYTES:
            _set_remaining(sock, deadline)
            chunk = response.read1(min(8192, MAX_REPLY_BYTES - len(body)))  # one recv at most
            if not chunk:
                break
            body += chunk
        content_type = response.getheader("Content-Type") or _TEXT
        if not 100 <= response.status <= 599:
            raise http.client.HTTPException(f"status {response.status}")
        return Reply(response.status, bytes(body), content_type)
    finally:
        connection.close()


def _set_remaining(sock: socket.socket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("staging timeout")
    sock.settimeout(remaining)
