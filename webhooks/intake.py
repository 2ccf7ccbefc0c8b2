"""One delivery, from the bytes GitHub sent to the reply it gets.

Verify the signature over the raw body, read the event, decode the payload, then hand it to the
lifecycle (or, for staging accounts, to staging). Both ways in, the Django view and the WSGI
fast path, call `receive`, so a delivery is answered the same whichever serves it.
"""
import logging
from collections.abc import Callable, Mapping
from typing import Any

from webhooks import delivery_settings, lifecycle, proxy, signatures, store
from webhooks.events import PayloadError, decode_body, decode_workflow_job, is_form
from webhooks.outcomes import Delivery, Reason, Reply, Result, quoted

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
_UNAVAILABLE = Reply(503, b"redis unavailable, redeliver later", TEXT)
# How each signature verdict is refused; a valid one is not.
SIGNATURE_REASON = {
    signatures.Verdict.MISSING: Reason.MISSING_SIGNATURE,
    signatures.Verdict.INVALID: Reason.BAD_SIGNATURE,
}
# What GitHub is told of each refusal that comes before the payload is read.
REFUSAL_WORDS = {
    Reason.BAD_HOST: "invalid host",
    Reason.SLOW_BODY: "body not received in time",
    Reason.BROKEN_BODY: "body could not be read",
    Reason.TOO_LARGE: "body too large",
    Reason.MISSING_SIGNATURE: "missing X-Hub-Signature-256 header",
    Reason.BAD_SIGNATURE: "invalid signature",
    Reason.MISSING_EVENT: "missing X-GitHub-Event header",
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
    current = delivery_settings.current()
    delivery_id = environ.get("HTTP_X_GITHUB_DELIVERY", "")[:100]
    event_name = environ.get("HTTP_X_GITHUB_EVENT", "")[:100]
    try:
        body = _read_capped(environ, read, current.max_body_bytes)
    except BodyUnreadable as exc:
        return _refused(delivery_id, event_name, exc.reason)
    if body is None:
        return _refused(delivery_id, event_name, Reason.TOO_LARGE)
    verdict = signatures.verify(body, environ.get("HTTP_X_HUB_SIGNATURE_256"), current.secrets)
    if verdict != signatures.Verdict.VALID:
        return _refused(delivery_id, event_name, SIGNATURE_REASON[verdict])
    if not event_name:
        return _refused(delivery_id, event_name, Reason.MISSING_EVENT)
    content_type = environ.get("CONTENT_TYPE", "")
    # The common delivery in one pass; anything else, and any doubt, the general way.
    payload: lifecycle.Payload | None = None
    if event_name == "workflow_job" and not is_form(content_type):
        payload = decode_workflow_job(body)
    if payload is not None:
        delivery = Delivery(delivery_id, event_name, payload.action, payload.job_id)
    else:
        try:
            payload = decode_body(body, content_type)
        except PayloadError as exc:
            refused = Delivery(delivery_id, event_name)
            return _reply(lifecycle.reject(refused, Reason.BAD_PAYLOAD, f"bad payload: {exc}"))
        delivery = Delivery(delivery_id, event_name, str(payload.get("action") or "")[:64])
    try:
        decision = lifecycle.handle_delivery(delivery, payload, proxy.hopped(environ))
        if isinstance(decision, lifecycle.Forward):
            answer = proxy.forward(body, proxy.forwarded_headers(environ), delivery_id)
            decision = lifecycle.forwarded(decision, answer)
    except store.StoreUnavailable:
        log.error("webhook.unavailable delivery=%s", quoted(delivery_id))
        return _UNAVAILABLE
    return _reply(decision)


def refuse(reason: Reason) -> Reply:
    """Answer a delivery refused before it was read (a host this deployment does not serve),
    counted like the other refusals that come before the signature."""
    return _refused("", "", reason)


def _refused(delivery_id: str, event_name: str, reason: Reason) -> Reply:
    delivery = Delivery(delivery_id, event_name)
    return _reply(lifecycle.reject(delivery, reason, REFUSAL_WORDS[reason]))


def _reply(result: Result) -> Reply:
    if result.reply is not None:
        return result.reply
    return Reply(result.http_status, result.message().encode(), TEXT)


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
