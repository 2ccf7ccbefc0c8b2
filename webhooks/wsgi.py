"""The WSGI fast path for deliveries.

A delivery needs no session, user, CSRF token, template, static file or URL routing, yet
Django's middleware stack and request objects cost more CPU than the delivery's own work. So
`POST /` is answered here, in front of Django, by the same `intake.receive` as the Django view;
every other request, and a delivery over plain HTTP that production redirects to HTTPS, goes
through Django untouched.
"""
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from webhooks import intake
from webhooks.outcomes import Reply, quoted

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DeliveryFastPath:
    def __init__(self, django: WSGIApp) -> None:
        self.django = django
        # The headers Django's SecurityMiddleware and XFrameOptionsMiddleware would add.
        self.headers: list[tuple[str, str]] = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", settings.SECURE_REFERRER_POLICY or "same-origin"),
            ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY or "same-origin"),
        ]
        self.hsts: list[tuple[str, str]] = []
        if settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
            self.hsts.append(("Strict-Transport-Security", hsts))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != "/"
            or environ.get("REQUEST_METHOD") != "POST"
            or (settings.SECURE_SSL_REDIRECT and not _is_secure(environ))
        ):
            return self.django(environ, start_response)
        try:
            reply = intake.receive(environ, environ["wsgi.input"].read)
        except Exception:
            log.exception(
                "webhook.error delivery=%s", quoted(environ.get("HTTP_X_GITHUB_DELIVERY", "")[:100])
            )
            reply = Reply(500, b"internal error", intake.TEXT)
        finally:
            # What Django's request_finished does: a reload of the mappings may have opened
            # a database connection, which must not outlive CONN_MAX_AGE or a failure.
            close_old_connections()
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            *self.headers,
            *(self.hsts if _is_secure(environ) else ()),
        ]
        start_response(f"{reply.status} {phrase}", headers)
        return [reply.body]


def _is_secure(environ: dict[str, Any]) -> bool:
    """HTTPS, directly or behind the TLS-terminating proxy of SECURE_PROXY_SSL_HEADER."""
    if environ.get("wsgi.url_scheme") == "https":
        return True
    header, value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    return header is not None and environ.get(header, "").split(",")[0].strip() == value
