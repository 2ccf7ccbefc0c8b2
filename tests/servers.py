"""Real RunnerHub processes under gunicorn, for end-to-end tests and benchmarks."""
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.redis_server import free_port
from tests.webhook_client import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent


class Gunicorn:
    """`gunicorn runnerhub.wsgi` with production settings on a fresh SQLite database.

    `env` overrides the environment (RUNNERHUB_ENV, STAGING_URL, DEBUG, ...). Another WSGI
    `app` may be served under the same gunicorn settings, for side-by-side benchmarks.
    """

    def __init__(
        self,
        redis_url: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        app: str = "runnerhub.wsgi",
        chdir: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.workers = workers
        self.app = app
        self.chdir = chdir
        self.dir = Path(tempfile.mkdtemp(prefix="runnerhub-gunicorn-"))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "runnerhub.settings",
            "DEBUG": "0",
            "SECRET_KEY": "runnerhub-end-to-end-test-key-" + "x" * 40,
            "GITHUB_WEBHOOK_SECRET": TEST_SECRET,
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{self.dir / 'db.sqlite3'}",
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

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self) -> "Gunicorn":
        if self.app == "runnerhub.wsgi":
            self.manage("migrate", "--noinput", "-v0")
            self.manage("collectstatic", "--noinput", "-v0")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), self.app, "-c", str(ROOT / "gunicorn.conf.py"),
                   "-w", str(self.workers), "--chdir", str(self.chdir)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log
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

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
