"""Real RunnerHub processes under gunicorn, for end-to-end tests and benchmarks."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from harness.redis_server import free_port
from harness.webhook_client import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent


class Gunicorn:
    """`gunicorn runnerhub.wsgi` with production settings on a fresh database of its own
    (SQLite, or PostgreSQL when the tests run on it).

    `env` overrides the environment (RUNNERHUB_ENV, STAGING_URL, DEBUG, ...). Another WSGI
    `app` importable from the project root (`bench.limit_app:app`) may be served under the
    same gunicorn settings, for side-by-side benchmarks.
    `worker_class="sync"` overrides gunicorn.conf.py's threaded workers with one request per
    process (`--threads 1` too: gunicorn silently turns sync workers with threads into gthread).
    """

    def __init__(
        self,
        redis_url: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        app: str = "runnerhub.wsgi",
        worker_class: str | None = None,
        root: Path = ROOT,
    ) -> None:
        self.root = root  # the checkout it serves: this one, or another to compare with
        self.port = free_port()
        self.workers = workers
        self.app = app
        self.worker_class = worker_class
        self.dir = Path(tempfile.mkdtemp(prefix="runnerhub-gunicorn-"))
        self.postgres: tuple[str, str] | None = None  # (server URL, this server's database)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "runnerhub.settings",
            "DEBUG": "0",
            "SECRET_KEY": "runnerhub-end-to-end-test-key-" + "x" * 40,
            "RUNNERHUB_ENV": "prod",
            "GITHUB_WEBHOOK_SECRET": TEST_SECRET,
            "REDIS_URL": redis_url,
            "DATABASE_URL": self._database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "gunicorn.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _database_url(self) -> str:
        """A fresh database of its own: SQLite in its directory or, when the tests run on
        PostgreSQL (DATABASE_URL, `make test-postgres`), a database on that server."""
        shared = os.environ.get("DATABASE_URL", "")
        if not shared.startswith(("postgres://", "postgresql://")):
            return f"sqlite:///{self.dir / 'db.sqlite3'}"
        self.postgres = (shared, f"runnerhub_server_{self.port}")
        return urlunsplit(urlsplit(shared)._replace(path="/" + self.postgres[1]))

    def _postgres(self, statement: str) -> None:
        with psycopg.connect(self.postgres[0], autocommit=True) as connection:
            connection.execute(statement)

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=self.root, env=self.env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def shell(self, code: str) -> str:
        """Run Python in `manage.py shell` against this server's database; its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
            cwd=self.root, env=self.env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip()

    def create_superuser(self, username: str, password: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput",
             "--username", username, "--email", f"{username}@example.com"],
            cwd=self.root, env={**self.env, "DJANGO_SUPERUSER_PASSWORD": password}, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def worker_pids(self) -> set[int]:
        """The pids of the gunicorn workers, the children of the master process."""
        assert self.process is not None
        return {pid for pid in _pids() if _parent_of(pid) == self.process.pid}

    def worker_serving(self, sock: socket.socket, seconds: float = 10) -> int:
        """The pid of the worker that accepted this client socket's connection (Linux /proc)."""
        client_port = sock.getsockname()[1]
        deadline = time.monotonic() + seconds
        while True:
            inode = _server_side_inode(self.port, client_port)
            owners = [pid for pid in self.worker_pids() if inode and inode in _socket_inodes(pid)]
            if owners:
                [pid] = owners
                return pid
            if time.monotonic() > deadline:
                raise RuntimeError("no gunicorn worker accepted the connection")
            time.sleep(0.01)

    def hold_worker(self) -> "HeldWorker":
        """Keep one idle worker busy, and know which one: see HeldWorker (sync workers only)."""
        return HeldWorker(self)

    def start(self) -> "Gunicorn":
        if self.postgres and self.app == "runnerhub.wsgi":
            self._postgres(f"DROP DATABASE IF EXISTS {self.postgres[1]} WITH (FORCE)")
            self._postgres(f"CREATE DATABASE {self.postgres[1]}")
        if self.app == "runnerhub.wsgi":
            self.manage("migrate", "--noinput", "-v0")
            self.manage("collectstatic", "--noinput", "-v0")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), self.app, "-c", str(self.root / "gunicorn.conf.py"),
                   "-w", str(self.workers), "--chdir", str(self.root)]  # fmt: skip
        if self.worker_class is not None:
            command += ["--worker-class", self.worker_class]
            if self.worker_class == "sync":
                command += ["--threads", "1"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.env, stdout=log, stderr=log
            )
        self.wait_until_up()
        return self

    def wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None
        if self.postgres and self.app == "runnerhub.wsgi":
            self._postgres(f"DROP DATABASE IF EXISTS {self.postgres[1]} WITH (FORCE)")

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HeldWorker:
    """A request whose headers never end, which keeps the sync worker that accepted it busy
    (a threaded worker would only lose one thread to it).

    With every other worker held, the next connection can only go to the one left free; that is
    how a test makes sure that each worker serves a delivery. `pid` is the worker that holds
    this connection, found through /proc (Linux).
    """

    def __init__(self, server: Gunicorn, seconds: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=seconds)
        self.sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            self.pid = server.worker_serving(self.sock, seconds)
        except RuntimeError:
            self.sock.close()
            raise

    def release(self) -> None:
        """End the request; the worker answers it and is free again."""
        self.sock.sendall(b"Connection: close\r\n\r\n")
        while self.sock.recv(65536):
            pass
        self.sock.close()


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _server_side_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the accepted socket of a loopback connection, once a process owns it."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if (local_port, remote_port) == (server_port, client_port) and int(fields[9]):
                    return int(fields[9])
    return None


class BlackHole:
    """A staging that drops packets, on loopback: a listening socket that never accepts, its
    backlog filled, so the kernel drops every further SYN and a connect waits for its timeout
    (as with a host that does not answer at all)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        self.filler.close()
        self.listener.close()

    def __enter__(self) -> "BlackHole":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SchedulerProcess:
    """`manage.py run_scheduler` as a process of its own, with production settings (DEBUG off)
    and a migrated SQLite database of its own, so a test can SIGKILL it."""

    def __init__(self, env: dict[str, str], database: Path) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "runnerhub.settings",
            "DEBUG": "0",
            "RUNNERHUB_ENV": "prod",
            "SECRET_KEY": "runnerhub-end-to-end-test-key-" + "x" * 40,
            "GITHUB_WEBHOOK_SECRET": TEST_SECRET,
            "DATABASE_URL": f"sqlite:///{database}",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.log = Path(tempfile.mkstemp(prefix="runnerhub-scheduler-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def environment(github: Any, kube: Any, redis_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
        """The settings that point a scheduler at the fake GitHub (`github`) and Kubernetes
        (`kube`): only URLs and credentials, as in production; short intervals for tests."""
        return {
            "REDIS_URL": redis_url,
            "GITHUB_APP_ID": str(github.app_id),
            "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
            "GITHUB_API_URL": github.url,
            "KUBECONFIG": str(kube.write_kubeconfig(workdir / "kubeconfig")),
            "RUNNER_NAMESPACE": "runnerhub-runners",
            "SCHEDULER_INTERVAL_SECONDS": "1",
            "SCHEDULER_LEASE_SECONDS": "3",
            **overrides,
        }

    @staticmethod
    def migrate(env: dict[str, str], database: Path) -> None:
        probe = SchedulerProcess(env, database)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT, env=probe.env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> "SchedulerProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "run_scheduler"],
                cwd=ROOT, env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
