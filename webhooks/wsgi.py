"""The WSGI fast path for deliveries.

A delivery needs no session, user, CSRF token, template, static file or URL routing, yet
Django's middleware stack and request objects cost more CPU than the delivery's own work. So
`POST /` is answered here, in front of Django, by the same `intake.receive` as the Django view;
every other request, and a delivery over plain HTTP that production redirects to HTTPS, goes
through Django untouched.
"""
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import got_request_exception, request_finished, request_started
from django.http.request import split_domain_port, validate_host
from gunicorn.http.errors import ParseException

from webhooks import delivery_settings, intake
from webhooks.outcomes import Reason, Reply, quoted

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def security_headers() -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to a response,
    for the answers given in front of Django (HSTS aside: only over HTTPS)."""
    return [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", settings.X_FRAME_OPTIONS),
        ("Referrer-Policy", settings.SECURE_REFERRER_POLICY or "same-origin"),
        ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY or "same-origin"),
    ]


class DeliveryFastPath:
    def __init__(self, django: WSGIApp) -> None:
        self.django = django
        self.headers = security_headers()
        self.hsts: list[tuple[str, str]] = []
        if settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
            self.hsts.append(("Strict-Transport-Security", hsts))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/" or environ.get("REQUEST_METHOD") != "POST":
            return self.django(environ, start_response)
        secure = _is_secure(environ)
        if delivery_settings.current().ssl_redirect and not secure:
            return self.django(environ, start_response)
        # Django's request signals, as its WSGIHandler sends them: their receivers close a
        # database connection past CONN_MAX_AGE or broken (a reload of the mappings may have
        # opened one) and let error trackers see a delivery's 500.
        request_started.send(sender=self.__class__, environ=environ)
        try:
            if not _host_allowed(environ, secure):
                # What Django answers too; a signed delivery to another host is not this one's.
                reply = intake.refuse(Reason.BAD_HOST)
            else:
                reply = intake.receive(environ, _bounded_reader(environ))
        except Exception:
            log.exception(
                "webhook.error delivery=%s", quoted(environ.get("HTTP_X_GITHUB_DELIVERY", "")[:100])
            )
            # Inside the except block, as Django sends it: receivers read sys.exc_info().
            got_request_exception.send(sender=None, request=WSGIRequest(environ))
            reply = Reply(500, b"internal error", intake.TEXT)
        return self._respond(start_response, reply, secure)

    def _respond(
        self, start_response: Callable[..., Any], reply: Reply, secure: bool
    ) -> Iterable[bytes]:
        phrase = _PHRASES.get(reply.status, "Unknown")
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            *self.headers,
            *(self.hsts if secure else ()),
        ]
        start_response(f"{reply.status} {phrase}", headers)
        return _Body((reply.body,))


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class _Body(list[bytes]):
    """A reply's body that ends the request when the server closes it, once the reply is sent
    (PEP 3333), as a Django response does: request_finished's receivers then run after the
    client has its answer, not before."""

    __slots__ = ()

    def close(self) -> None:
        request_finished.send(sender=DeliveryFastPath)


def _is_secure(environ: dict[str, Any]) -> bool:
    """HTTPS, directly or behind the TLS-terminating proxy of SECURE_PROXY_SSL_HEADER."""
    if environ.get("wsgi.url_scheme") == "https":
        return True
    header, value = delivery_settings.current().proxy_ssl_header or (None, None)
    return header is not None and environ.get(header, "").split(",")[0].strip() == value


def _host_allowed(environ: dict[str, Any], secure: bool) -> bool:
    """Django's own host validation (HttpRequest.get_host), without building a request."""
    current = delivery_settings.current()
    if current.use_x_forwarded_host and "HTTP_X_FORWARDED_HOST" in environ:
        host = environ["HTTP_X_FORWARDED_HOST"]
    elif "HTTP_HOST" in environ:
        host = environ["HTTP_HOST"]
    else:
        host = environ.get("SERVER_NAME", "")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != ("443" if secure else "80"):
            host = f"{host}:{port}"
    return valid_host(host, current.allowed_hosts)


@functools.lru_cache(maxsize=256)
def valid_host(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether `host` (a Host header: name and port) is one of `allowed`, as Django decides it;
    remembered: a deployment is asked for the same few hosts, and each costs a parse."""
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _bounded_reader(environ: dict[str, Any]) -> Callable[[int], bytes]:
    """A reader of the request body that gives up after WEBHOOK_BODY_TIMEOUT_SECONDS in all.

    Under gunicorn the body is read from the client's socket with no timeout of its own, so a
    client that announces a body and trickles it, or sends none, would hold a thread for as
    long as it liked. A socket timeout would bound each wait, not the whole read (a byte every
    second never trips it), and cost system calls on every delivery; so the deadline is kept by
    `body_deadlines` alone, which shuts the reading side of a late socket, and a read blocked on
    it returns at once. Raises TimeoutError when the deadline passed, OSError for a body
    gunicorn could not parse (a broken chunked encoding) or a client that went away.
    """
    body = environ["wsgi.input"]
    sock = environ.get("gunicorn.socket")

    def read(size: int) -> bytes:
        if sock is None:  # not under gunicorn: whoever serves the request bounds it
            return body.read(size)
        seconds = delivery_settings.current().body_timeout_seconds
        watch = body_deadlines.watch(sock, seconds)
        try:
            data = body.read(size)
        except ParseException as exc:
            raise OSError(f"unreadable body: {type(exc).__name__}") from exc
        finally:
            body_deadlines.cancel(watch)
        if watch.tripped:
            raise TimeoutError("body not received in time")
        return data

    return read


class _Watch:
    __slots__ = ("sock", "due", "tripped")

    def __init__(self, sock: socket.socket, due: float) -> None:
        self.sock, self.due, self.tripped = sock, due, False


class BodyDeadlines:
    """One thread per process that shuts the reading side of sockets whose deadline passed, so
    that a read blocked on them returns at once (with what arrived) and the thread is free.

    The thread looks every TICK seconds while any read is watched, and sleeps on an event when
    none is. It does not sleep until each deadline: deliveries come hundreds a second, and a
    thread woken for each of their deadlines takes the GIL from the requests as often. So a
    deadline trips up to TICK late, and a busy process wakes the thread about 1/TICK times a
    second, however many deliveries it answers.
    """

    TICK = 0.1

    def __init__(self) -> None:
        self._watched: set[_Watch] = set()
        self._lock = threading.Lock()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, seconds: float) -> _Watch:
        watch = _Watch(sock, time.monotonic() + seconds)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="body-deadlines", daemon=True
                )
                self._thread.start()
            self._watched.add(watch)
            if not self._busy.is_set():
                self._busy.set()
        return watch

    def cancel(self, watch: _Watch) -> None:
        with self._lock:
            self._watched.discard(watch)

    def _run(self) -> None:
        while True:
            self._busy.wait()
            time.sleep(self.TICK)
            now = time.monotonic()
            # Under the lock: once cancel() returns, its socket is never shut by this thread.
            with self._lock:
                for watch in [watch for watch in self._watched if watch.due <= now]:
                    self._watched.discard(watch)
                    watch.tripped = True
                    try:
                        watch.sock.shutdown(socket.SHUT_RD)
                    except OSError:
                        pass  # closed meanwhile
                if not self._watched:
                    self._busy.clear()


body_deadlines = BodyDeadlines()
