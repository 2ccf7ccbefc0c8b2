"""A gunicorn worker killed with SIGKILL in the middle of a stream of deliveries.

A delivery in flight on the dying worker gets no answer (GitHub shows it as failed and it can
be redelivered); every job in Redis is still whole, because each delivery is one Lua script
that Redis runs entirely or not at all; the other worker goes on answering and gunicorn starts
a new one.
"""
import json
import os
import signal
import socket
import time
from collections import Counter

import pytest
import redis

from harness.factories import WorkflowJobPayloadFactory
from harness.redis_server import RedisServer
from harness.servers import Gunicorn
from harness.webhook_client import json_delivery_headers
from tests.delivery_stream import DeliveryStream, Sent, job_problems, redeliver, unrecorded

pytestmark = pytest.mark.slow


def start_delivery(server: Gunicorn, body: bytes) -> socket.socket:
    """A signed delivery sent but for its last byte: the worker that took it is reading it."""
    headers = json_delivery_headers(body)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(request + body[:-1])
    return sock


def finish_delivery(sock: socket.socket, body: bytes) -> bytes:
    """Send the last byte and read the answer: b'' when the connection died instead."""
    try:
        sock.sendall(body[-1:])
        return sock.recv(65536)
    except OSError:
        return b""
    finally:
        sock.close()


def wait_for_workers(server: Gunicorn, count: int, seconds: float = 30) -> set[int]:
    deadline = time.monotonic() + seconds
    while len(pids := server.worker_pids()) != count:
        assert time.monotonic() < deadline, f"gunicorn has {len(pids)} workers, not {count}"
        time.sleep(0.05)
    return pids


def test_a_worker_killed_mid_stream_leaves_no_half_written_job(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    in_flight = WorkflowJobPayloadFactory()
    body = json.dumps(in_flight).encode()
    with Gunicorn(redis_server.url, workers=2) as server:
        before = wait_for_workers(server, 2)
        with DeliveryStream(server.port, clients=6, pause=0.01) as stream:
            stream.wait_for(200, 100)
            sock = start_delivery(server, body)
            victim = server.worker_serving(sock)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            answer = finish_delivery(sock, body)
            stream.wait_for(200, 200, after=killed_at)
        after = wait_for_workers(server, 2)
        sent = [*stream.sent, Sent(in_flight, None, "", "killed", killed_at)]

        answers = Counter(s.status for s in sent)
        assert answer == b""
        assert set(answers) == {200, None}, answers  # no 5xx: Redis never failed
        assert victim in before and victim not in after
        assert unrecorded(redis_client, sent) == []
        assert job_problems(redis_client) == []

        again = redeliver(server.port, [s for s in sent if s.status is None])

    assert Counter(s.status for s in again) == {200: answers[None]}
    statuses = {s.job_id: redis_client.hget(f"prod:job:{s.job_id}", "status") for s in sent}
    assert statuses.pop(in_flight["workflow_job"]["id"]) == "pending"  # only its queued was sent
    assert set(statuses.values()) == {"completed"}
    assert job_problems(redis_client) == []
