"""Slow and stuck clients against a real gunicorn with RunnerHub's settings: GitHub's deliveries
are still answered at once (see gunicorn.conf.py for why the workers are threaded)."""
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from harness.factories import WorkflowJobPayloadFactory
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import post_delivery

pytestmark = pytest.mark.slow

DELIVERIES = 20
# The one timed assertion of the suite, asked for by the issue: a delivery is a few milliseconds,
# so a second means it was queued behind a slow client.
ANSWERED_WITHIN_SECONDS = 1.0


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[Gunicorn]:
    with Gunicorn(redis_server.url, workers=2) as gunicorn:
        yield gunicorn


def silent(sock: socket.socket) -> bytes:
    """Connects and sends nothing."""
    return b""


def unfinished_headers(sock: socket.socket) -> bytes:
    """Sends a request line and one header, then trickles a header that never ends."""
    return b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def unfinished_body(sock: socket.socket) -> bytes:
    """Announces a large body and trickles it."""
    return (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: workflow_job\r\nContent-Length: 100000\r\n\r\n{"
    )


class SlowClients:
    """Connections that each send one byte every `interval` after their opening bytes: alive,
    never finished."""

    def __init__(self, port: int, kinds: list[Callable[[socket.socket], bytes]]) -> None:
        self.socks: list[tuple[socket.socket, bool]] = []
        for kind in kinds:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            opening = kind(sock)
            if opening:
                sock.sendall(opening)
            self.socks.append((sock, bool(opening)))
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self, interval: float = 0.25) -> None:
        while not self.stopping.wait(interval):
            for sock, trickles in self.socks:
                if trickles:
                    try:
                        sock.send(b"x")
                    except OSError:
                        pass

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for sock, _ in self.socks:
            sock.close()


def test_a_dozen_slow_clients_do_not_hold_up_deliveries(
    server: Gunicorn, redis_client: redis.Redis
) -> None:
    # 12: more than one worker has threads (8), so they would starve whatever else that worker
    # accepted if it kept accepting; fewer than both workers have.
    slow = SlowClients(server.port, [silent, unfinished_headers, unfinished_body] * 4)
    timings = []
    try:
        time.sleep(0.5)  # every slow connection accepted and read by a worker thread
        for _ in range(DELIVERIES):
            payload = WorkflowJobPayloadFactory()
            started = time.monotonic()
            status, body, _ = post_delivery(server.url, payload, timeout=10)
            timings.append(time.monotonic() - started)
            assert (status, body.split(":")[0]) == (200, "stored")
            job = redis_client.hgetall(f"prod:job:{payload['workflow_job']['id']}")
            assert job["status"] == "pending"
    finally:
        slow.close()

    assert max(timings) < ANSWERED_WITHIN_SECONDS, timings


BODY_TIMEOUT = 1.0


@pytest.fixture
def bounded(redis_server: RedisServer) -> Iterator[Gunicorn]:
    env = {"WEBHOOK_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), "LOG_LEVEL": "DEBUG"}
    with Gunicorn(redis_server.url, workers=2, env=env) as gunicorn:
        yield gunicorn


def answer_of(sock: socket.socket, seconds: float = 10) -> bytes:
    """What the server sent back before closing the connection."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except OSError:
        pass
    return received


def test_more_slow_bodies_than_threads_only_delay_deliveries_by_the_body_timeout(
    bounded: Gunicorn, redis_client: redis.Redis
) -> None:
    # 24 bodies trickled a byte every 0.25 s: more than the 16 threads of both workers. Each
    # is cut off after WEBHOOK_BODY_TIMEOUT_SECONDS, so a delivery waits at most about two
    # rounds of them, where without the bound it waited for as long as they trickled.
    slow = SlowClients(bounded.port, [unfinished_body] * 24)
    try:
        time.sleep(0.3)
        payload = WorkflowJobPayloadFactory()
        started = time.monotonic()
        status, body, _ = post_delivery(bounded.url, payload, timeout=15)
        waited = time.monotonic() - started
        answers = [answer_of(sock) for sock, _ in slow.socks[:3]]
    finally:
        slow.close()

    assert (status, body.split(":")[0]) == (200, "stored")
    assert waited < 3 * BODY_TIMEOUT + 2, waited
    assert redis_client.hget(f"prod:job:{payload['workflow_job']['id']}", "status") == "pending"
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert answer.endswith(b"body not received in time")
    assert int(redis_client.hget("prod:stats", "rejected:slow_body")) >= 3


def raw_request(port: int, head: bytes, body: bytes, hang_up: bool) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(head + body)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)  # gone mid-body, still listening for the answer
        return answer_of(sock)
    finally:
        sock.close()


HEAD = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"X-GitHub-Event: workflow_job\r\nX-GitHub-Delivery: broken-1\r\n"
)


@pytest.mark.parametrize(
    ("head", "body", "hang_up"),
    [
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"zz\r\n{}\r\n0\r\n\r\n", False),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", False),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"100\r\n{\"action\":", True),
        (HEAD + b"Content-Length: 1000\r\n\r\n", b"{\"action\":", True),
    ],
    ids=["bad chunk size", "chunk without its terminator", "cut off mid-chunk", "cut off mid-body"],
)
def test_a_malformed_or_unfinished_body_is_a_400_logged_at_debug(
    bounded: Gunicorn, redis_client: redis.Redis, head: bytes, body: bytes, hang_up: bool
) -> None:
    answer = raw_request(bounded.port, head, body, hang_up)
    bounded.stop()  # flushes the log
    log = bounded.log.read_text(errors="replace")

    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert answer.endswith(b"body could not be read")
    assert "webhook.refused reason=broken_body status=400" in log
    assert " ERROR " not in log and "Traceback" not in log
    assert redis_client.hget("prod:stats", "rejected:broken_body") == "1"
