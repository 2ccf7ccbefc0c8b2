"""Real redis-server processes on free loopback ports, owned by whoever starts them: one Redis
for the suite, or a primary and its replicas."""
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """`replicaof`: the port of a primary on loopback to replicate."""

    def __init__(
        self, port: int | None = None, appendonly: bool = False, replicaof: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.replicaof = replicaof
        self.dir = Path(tempfile.mkdtemp(prefix="runnerhub-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def start(self) -> "RedisServer":
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
        command = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--loglevel", "warning",
            # A replica's first sync starts at once, not after waiting 5 s for more replicas.
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if self.replicaof is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replicaof)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)

    def wait_until_replicating(self, seconds: float = 10) -> None:
        """Wait until this replica's link to its primary is up (the first sync is done)."""
        _wait_until(
            lambda: self.client().info("replication").get("master_link_status") == "up",
            seconds, f"redis-server on port {self.port} did not sync with its primary",
        )  # fmt: skip

    def stop(self) -> None:
        _end(self.process, signal.SIGTERM)
        self.process = None

    def kill(self) -> None:
        _end(self.process, signal.SIGKILL)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_until(condition: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.05)


def _end(process: subprocess.Popen[bytes] | None, how: signal.Signals) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(how)
        process.wait(10)
