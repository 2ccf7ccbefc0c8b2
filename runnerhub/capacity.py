"""A reserved share of each process for GitHub's deliveries, whatever the pages are asked.

A delivery is a few milliseconds; a filtered /history over thousands of jobs or an admin
login (PBKDF2) costs hundreds of CPU milliseconds. With gunicorn's threads shared by both,
enough page requests in a loop take every thread and GitHub's deliveries wait past its 10 s
timeout, which it never retries. So everything Django serves, but /health and the static
files, may use at most PAGE_CONCURRENCY threads of a process at a time; past that it is
answered 503 with Retry-After at once, costing almost nothing. Deliveries are answered by the
fast path in front of this (webhooks/wsgi.py) and never wait for a page's slot.
"""
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings

from webhooks.wsgi import WSGIApp, security_headers

BUSY_BODY = b"busy: too many page requests at once, retry shortly\n"
# Cheap, and what probes must reach even when the pages are busy.
EXEMPT_PATHS = frozenset({"/health"})


class PageLimit:
    """WSGI middleware: at most PAGE_CONCURRENCY requests at a time through `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.in_flight = 0
        static = "/" + settings.STATIC_URL.strip("/") + "/"
        self.exempt_prefixes = (static,)
        self.headers = security_headers()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in EXEMPT_PATHS or path.startswith(self.exempt_prefixes):
            return self.app(environ, start_response)
        if not self._enter():
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(BUSY_BODY))),
                    ("Retry-After", str(settings.PAGE_RETRY_AFTER_SECONDS)),
                    ("Cache-Control", "no-store"),
                    *self.headers,
                ],
            )
            return [BUSY_BODY]
        try:
            response = self.app(environ, start_response)
        except BaseException:
            self._leave()
            raise
        # The slot is held until the server has written the response and closed it.
        return _ReleasedOnClose(response, self._leave)

    def _enter(self) -> bool:
        with self._lock:
            if self.in_flight >= settings.PAGE_CONCURRENCY:
                return False
            self.in_flight += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _ReleasedOnClose:
    """A WSGI response that calls `release` once, when the server closes it (PEP 3333)."""

    def __init__(self, response: Iterable[bytes], release: Callable[[], None]) -> None:
        self.response = response
        self.release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()
        finally:
            release, self.release = self.release, None
            if release is not None:
                release()
