"""Real redis-server and redis-sentinel processes on free loopback ports, owned by whoever
starts them: one Redis for the suite, or a primary with replicas and sentinels for failover."""
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.sentinel import Sentinel


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


class RedisSentinel:
    """A redis-sentinel (Debian's) watching the primary on loopback port `primary` as `service`.

    Each has a config file of its own, which Sentinel rewrites with what it learns: the other
    sentinels, the replicas and, after a failover, the new primary. Short timings, so that a
    failover takes seconds: down after `down_after_ms` without an answer, a failover attempt
    given up after `failover_timeout_ms`.
    """

    def __init__(
        self,
        primary: int,
        service: str = "runnerhub",
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="runnerhub-sentinel-"))
        self.config = self.dir / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            "loglevel warning\n"
            f"sentinel monitor {service} 127.0.0.1 {primary} {quorum}\n"
            f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
            f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {service} 1\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def start(self) -> "RedisSentinel":
        executable = shutil.which("redis-sentinel")
        if executable is None:
            raise RuntimeError("redis-sentinel is not installed: `make test` installs it")
        self.process = subprocess.Popen([executable, str(self.config)], stdout=subprocess.DEVNULL)
        _wait_until(self._answers, 10, f"redis-sentinel did not start on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-sentinel on port {self.port} exited")
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def cleanup(self) -> None:
        _end(self.process, signal.SIGTERM)
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelGroup:
    """A primary, `replicas` replicas of it and `sentinels` sentinels watching them as
    `service`, all on loopback: what RunnerHub's REDIS_SENTINELS points at.

    Two replicas by default, so that after a failover the new primary still has one to
    acknowledge writes (REDIS_MIN_REPLICAS_ACK). A majority of the sentinels (the quorum) must
    agree that the primary is down, and elect one of them to promote a replica.
    """

    def __init__(self, replicas: int = 2, sentinels: int = 3, service: str = "runnerhub") -> None:
        self.service = service
        self.primary = RedisServer()
        self.replicas = [RedisServer(replicaof=self.primary.port) for _ in range(replicas)]
        self.sentinels = [
            RedisSentinel(self.primary.port, service, quorum=sentinels // 2 + 1)
            for _ in range(sentinels)
        ]

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    @property
    def addresses(self) -> str:
        """The sentinels as REDIS_SENTINELS takes them."""
        return ",".join(sentinel.address for sentinel in self.sentinels)

    def start(self, seconds: float = 20) -> "SentinelGroup":
        """Start everything, and return once every sentinel knows every other one and every
        replica: only then can they agree on a failover."""
        try:
            for server in self.servers:
                server.start()
            for replica in self.replicas:
                replica.wait_until_replicating()
            for sentinel in self.sentinels:
                sentinel.start()
            _wait_until(self._sentinels_agree, seconds, "the sentinels did not find each other")
        except BaseException:
            self.cleanup()
            raise
        return self

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            state = sentinel.client().sentinel_master(self.service)
            if (int(state["num-other-sentinels"]), int(state["num-slaves"])) != (
                len(self.sentinels) - 1, len(self.replicas)
            ):  # fmt: skip
                return False
        return True

    def sentinel(self) -> Sentinel:
        """A redis-py Sentinel client of the group, as RunnerHub's is."""
        return Sentinel(
            [("127.0.0.1", sentinel.port) for sentinel in self.sentinels],
            socket_timeout=2, decode_responses=True,
        )  # fmt: skip

    def primary_client(self) -> redis.Redis:
        """A client of whichever server the sentinels name as the primary now."""
        return self.sentinel().master_for(self.service, socket_timeout=2, decode_responses=True)

    def primary_port(self) -> int:
        return int(self.sentinel().discover_master(self.service)[1])

    def wait_for_promotion(self, old_port: int, seconds: float = 20) -> RedisServer:
        """Wait until the sentinels name a primary other than `old_port` and it has taken the
        role; return it."""

        def promoted() -> bool:
            try:
                port = self.primary_port()
                if port == old_port:
                    return False
                return self.server(port).client().info("replication")["role"] == "master"
            except redis.ConnectionError:  # MasterNotFoundError too: mid-failover
                return False

        _wait_until(promoted, seconds, f"no replica was promoted in {seconds} s")
        return self.server(self.primary_port())

    def server(self, port: int) -> RedisServer:
        [server] = [server for server in self.servers if server.port == port]
        return server

    def cleanup(self) -> None:
        for sentinel in self.sentinels:
            sentinel.cleanup()
        for server in self.servers:
            server.cleanup()


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
