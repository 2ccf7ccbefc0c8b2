"""POST /: GitHub's webhook deliveries."""
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks import lifecycle, proxy, signatures, store
from webhooks.events import PayloadError, decode_body
from webhooks.outcomes import Delivery, Reason, Result

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    meta = request.META  # not request.headers: parsing every header costs the hot path
    delivery = Delivery(
        meta.get("HTTP_X_GITHUB_DELIVERY", "")[:100], meta.get("HTTP_X_GITHUB_EVENT", "")[:100]
    )
    body = _read_capped(request, settings.WEBHOOK_MAX_BODY_BYTES)
    if body is None:
        return _respond(lifecycle.reject(delivery, Reason.TOO_LARGE, "body too large"))
    verdict = signatures.verify(body, meta.get("HTTP_X_HUB_SIGNATURE_256"), _secrets())
    if verdict != signatures.Verdict.VALID:
        return _respond(lifecycle.reject(delivery, Reason(verdict), _SIGNATURE_WORDS[verdict]))
    if not delivery.event:
        return _respond(
            lifecycle.reject(delivery, Reason.MISSING_EVENT, "missing X-GitHub-Event header")
        )
    try:
        payload = decode_body(body, request.content_type or "")
    except PayloadError as exc:
        return _respond(lifecycle.reject(delivery, Reason.BAD_PAYLOAD, f"bad payload: {exc}"))
    raw = proxy.RawDelivery(body, meta)
    try:
        result = lifecycle.handle_delivery(delivery.delivery_id, delivery.event, payload, raw)
    except store.StoreUnavailable:
        log.error("webhook.unavailable delivery=%s", delivery.delivery_id)
        return HttpResponse("redis unavailable, redeliver later", status=503, content_type=_TEXT)
    return _respond(result)


_TEXT = "text/plain; charset=utf-8"
_SIGNATURE_WORDS = {
    signatures.Verdict.MISSING: "missing X-Hub-Signature-256 header",
    signatures.Verdict.INVALID: "invalid signature",
}


def _respond(result: Result) -> HttpResponse:
    if result.reply is not None:
        reply = result.reply
        return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
    return HttpResponse(result.message(), status=result.http_status, content_type=_TEXT)


def _secrets() -> list[bytes]:
    return [secret.encode() for secret in settings.GITHUB_WEBHOOK_SECRETS]


def _read_capped(request: HttpRequest, cap: int) -> bytes | None:
    """The raw body, or None when it is larger than `cap`; a declared length over the cap
    is refused before anything is read."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        return None
    body = request.read(cap + 1)
    return None if len(body) > cap else body
