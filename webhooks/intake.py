"""One delivery, from the bytes GitHub sent to the reply it gets.

Verify the signature over the raw body, read the event, decode the payload, then hand it to the
lifecycle (or, for staging accounts, to staging). Both ways in, the Django view and the WSGI
fast path, call `receive`, so a delivery is answered the same whichever serves it.
"""
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

from webhooks import lifecycle, proxy, signatures, store
from webhooks.events import PayloadError, decode_body
from webhooks.outcomes import Delivery, Reason, Reply, Result, quoted

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
_SIGNATURE_WORDS = {
    signatures.Verdict.MISSING: "missing X-Hub-Signature-256 header",
    signatures.Verdict.INVALID: "invalid signature",
}
_UNAVAILABLE = Reply(503, b"redis unavailable, redeliver later", TEXT)
_BODY_WORDS = {
    Reason.SLOW_BODY: "body not received in time",
    Reason.BROKEN_BODY: "body could not be read",
}


class BodyUnreadable(Exception):
    """The client did not send its body whole: too slowly (SLOW_BODY), or broken or cut off
    (BROKEN_BODY). The client's fault, answered 4xx; not an error of RunnerHub's."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


def receive(environ: Mapping[str, Any], read: Callable[[int], bytes]) -> Reply:
    """Answer one POSTed delivery, given its WSGI environ and a reader of its body.

    401 for a missing or wrong signature, 413 for a body over WEBHOOK_MAX_BODY_BYTES (refused
    before it is read when its declared length says so), 408 for a body that did not arrive in
    time and 400 for one that could not be read (a broken chunked encoding, a client gone
    mid-body), 400 for a missing event header or an undecodable payload, 503 when Redis cannot
    record it, and 200 with what happened otherwise.
    """
    delivery = Delivery(
        environ.get("HTTP_X_GITHUB_DELIVERY", "")[:100], environ.get("HTTP_X_GITHUB_EVENT", "")[:100]
    )
    try:
        body = _read_capped(environ, read, settings.WEBHOOK_MAX_BODY_BYTES)
    except BodyUnreadable as exc:
        return _reply(lifecycle.reject(delivery, exc.reason, _BODY_WORDS[exc.reason]))
    if body is None:
        return _reply(lifecycle.reject(delivery, Reason.TOO_LARGE, "body too large"))
    verdict = signatures.verify(body, environ.get("HTTP_X_HUB_SIGNATURE_256"), _secrets())
    if verdict != signatures.Verdict.VALID:
        return _reply(lifecycle.reject(delivery, Reason(verdict), _SIGNATURE_WORDS[verdict]))
    if not delivery.event:
        return _reply(lifecycle.reject(delivery, Reason.MISSING_EVENT, "missing X-GitHub-Event header"))
    try:
        payload = decode_body(body, environ.get("CONTENT_TYPE", ""))
    except PayloadError as exc:
        return _reply(lifecycle.reject(delivery, Reason.BAD_PAYLOAD, f"bad payload: {exc}"))
    raw = proxy.RawDelivery(body, environ)
    try:
        result = lifecycle.handle_delivery(delivery.delivery_id, delivery.event, payload, raw)
    except store.StoreUnavailable:
        log.error("webhook.unavailable delivery=%s", quoted(delivery.delivery_id))
        return _UNAVAILABLE
    return _reply(result)


def refuse(reason: Reason, detail: str) -> Reply:
    """Answer a delivery refused before it was read (a host this deployment does not serve),
    counted like the other refusals that come before the signature."""
    return _reply(lifecycle.reject(Delivery("", ""), reason, detail))


def _reply(result: Result) -> Reply:
    if result.reply is not None:
        return result.reply
    return Reply(result.http_status, result.message().encode(), TEXT)


def _secrets() -> list[bytes]:
    return [secret.encode() for secret in settings.GITHUB_WEBHOOK_SECRETS]


def _read_capped(environ: Mapping[str, Any], read: Callable[[int], bytes], cap: int) -> bytes | None:
    """The raw body, or None when it is larger than `cap`; a declared length over the cap
    is refused before anything is read."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        return None
    # A declared length is all there is to read (PEP 3333); without one, read up to the cap.
    try:
        body = read(declared if declared > 0 else cap + 1)
    except TimeoutError:
        raise BodyUnreadable(Reason.SLOW_BODY) from None
    except (OSError, ValueError):  # a client gone mid-body; Django's UnreadablePostError too
        raise BodyUnreadable(Reason.BROKEN_BODY) from None
    if len(body) < declared:
        raise BodyUnreadable(Reason.BROKEN_BODY)  # the connection ended before the body did
    return None if len(body) > cap else body
