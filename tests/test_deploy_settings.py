"""Production settings: the secure values are the defaults, secrets may come from files, and a
missing secret stops gunicorn at start-up with a message that says which.

Start-up refusal through `import runnerhub.wsgi` is in test_checks.py; here it is gunicorn's.
"""
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from harness.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides: str) -> dict[str, str]:
    """Exactly what production must set, and nothing else: no PATH, no DJANGO_SETTINGS_MODULE."""
    env = {
        "RUNNERHUB_ENV": "prod",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "runnerhub.example.org",
        "GITHUB_WEBHOOK_SECRET": secrets.token_hex(32),
        "REDIS_URL": "redis://redis.example.org:6379/0",
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_check_deploy_finds_nothing_with_only_the_required_settings() -> None:
    result = manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_when_a_secure_default_is_turned_off() -> None:
    env = production_env(SECURE_HSTS_SECONDS="0")

    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 1
    assert "security.W004" in result.stderr


def test_every_secret_can_be_read_from_a_file(tmp_path: Path) -> None:
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECRET_KEY_FALLBACKS": secrets.token_urlsafe(50),
        # A secret is taken whole: commas are part of it.
        "GITHUB_WEBHOOK_SECRET": f"{secrets.token_hex(32)},{secrets.token_hex(32)}",
        "GITHUB_WEBHOOK_SECRET_PREVIOUS": secrets.token_hex(32),
        "REDIS_URL": "redis://:a-redis-password@redis.example.org:6379/0",
        "DATABASE_URL": "postgres://runnerhub:a-db-password@db.example.org:5432/runnerhub",
    }
    files = {}
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")  # as `kubectl create secret --from-file` leaves it
        files[f"{name}_FILE"] = str(path)
    env = production_env(SECRET_KEY=None, GITHUB_WEBHOOK_SECRET=None, REDIS_URL=None, **files)
    compare = (
        "from django.conf import settings as s; "
        f"print(s.SECRET_KEY == {values['SECRET_KEY']!r}, "
        f"s.GITHUB_WEBHOOK_SECRETS == [{values['GITHUB_WEBHOOK_SECRET']!r}, "
        f"{values['GITHUB_WEBHOOK_SECRET_PREVIOUS']!r}], "
        f"s.REDIS_URL == {values['REDIS_URL']!r}, "
        f"s.SECRET_KEY_FALLBACKS == [{values['SECRET_KEY_FALLBACKS']!r}], "
        "s.DATABASES['default']['PASSWORD'] == 'a-db-password')"
    )

    check = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    read = manage(env, "shell", "-v", "0", "-c", compare)

    assert check.returncode == 0, check.stderr
    assert read.stdout.split() == ["True"] * 5, read.stderr


def start_gunicorn(env: dict[str, str], seconds: float = 30) -> tuple[int, str]:
    """Run gunicorn until it exits by itself: (exit status, its log)."""
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "runnerhub.wsgi", "-c", "gunicorn.conf.py", "-w", "1",
         "-b", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        log, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        log, _ = process.communicate()
        pytest.fail(f"gunicorn kept running without its configuration:\n{log[-2000:]}")
    return process.returncode, log


@pytest.mark.slow
@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"GITHUB_WEBHOOK_SECRET": None}, "runnerhub.E001: GITHUB_WEBHOOK_SECRET is not set"),
        ({"GITHUB_WEBHOOK_SECRET": ""}, "runnerhub.E001: GITHUB_WEBHOOK_SECRET is not set"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be set when DEBUG is off"),
        (
            {"SECRET_KEY": None, "SECRET_KEY_FILE": "/run/secrets/missing"},
            "SECRET_KEY_FILE: cannot read /run/secrets/missing: No such file or directory",
        ),
    ],
    ids=["no webhook secret", "empty webhook secret", "no SECRET_KEY", "unreadable key file"],
)
def test_gunicorn_refuses_to_start_without_a_secret(
    missing: dict[str, str | None], message: str
) -> None:
    env = production_env(**missing, PATH="/usr/bin:/bin")

    status, log = start_gunicorn(env)

    assert status != 0
    assert message in log
    assert "Booting worker" in log  # it got as far as loading RunnerHub, and stopped there


@pytest.mark.slow
def test_gunicorn_refuses_an_empty_secret_file(tmp_path: Path) -> None:
    empty = tmp_path / "webhook-secret"
    empty.write_text("\n")
    env = production_env(
        GITHUB_WEBHOOK_SECRET=None, GITHUB_WEBHOOK_SECRET_FILE=str(empty), PATH="/usr/bin:/bin"
    )

    status, log = start_gunicorn(env)

    assert status != 0
    assert "runnerhub.E001: GITHUB_WEBHOOK_SECRET is not set" in log


def test_the_secure_defaults_are_those_of_production() -> None:
    shown = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF, "
        "s.SECURE_REFERRER_POLICY, s.SECURE_CROSS_ORIGIN_OPENER_POLICY, s.ALLOWED_HOSTS)"
    )

    result = manage(production_env(), "shell", "-v", "0", "-c", shown)

    assert result.stdout.split() == [
        "False", "True", "31536000", "True", "True", "True", "True", "DENY", "True",
        "same-origin", "same-origin", "['runnerhub.example.org']",
    ], result.stderr  # fmt: skip


def test_booleans_and_numbers_can_be_read_from_files_too(tmp_path: Path) -> None:
    values = {"DEBUG": "False", "SECURE_HSTS_PRELOAD": "0", "HISTORY_RETENTION_DAYS": "30",
              "RUNNERHUB_ENV": "staging", "REPORTS_REQUIRE_LOGIN": "yes"}  # fmt: skip
    files = {}
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        files[f"{name}_FILE"] = str(path)
    # The plain variables say otherwise: the files win.
    env = production_env(DEBUG="1", RUNNERHUB_ENV="prod", **files)
    shown = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_HSTS_PRELOAD, s.HISTORY_RETENTION_DAYS, s.RUNNERHUB_ENV, "
        "s.REPORTS_REQUIRE_LOGIN)"
    )

    result = manage(env, "shell", "-v", "0", "-c", shown)

    assert result.stdout.split() == ["False", "False", "30", "staging", "True"], result.stderr
