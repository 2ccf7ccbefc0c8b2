import os
import subprocess
import sys
from typing import Any
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from runnerhub import env
from runnerhub.checks import check_configuration, fail_on_configuration_errors
from runnerhub.env import env_bool, env_float, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


def ids(settings) -> list[str]:
    return [problem.id for problem in check_configuration()]


def test_the_test_configuration_has_no_problems(settings) -> None:
    assert ids(settings) == []


def test_e001_no_webhook_secret_in_production(settings) -> None:
    settings.GITHUB_WEBHOOK_SECRET, settings.GITHUB_WEBHOOK_SECRETS = "", []
    settings.DEBUG = False
    assert ids(settings) == ["runnerhub.E001"]
    with pytest.raises(ImproperlyConfigured, match="runnerhub.E001: GITHUB_WEBHOOK_SECRET"):
        fail_on_configuration_errors()


def test_w002_no_webhook_secret_in_development_is_only_a_warning(settings) -> None:
    settings.GITHUB_WEBHOOK_SECRET, settings.GITHUB_WEBHOOK_SECRETS = "", []
    settings.DEBUG = True
    assert ids(settings) == ["runnerhub.W002"]
    fail_on_configuration_errors()


def test_e002_unknown_environment(settings) -> None:
    settings.RUNNERHUB_ENV = "production"
    assert ids(settings) == ["runnerhub.E002"]


def test_e003_redis_url_that_is_not_redis(settings) -> None:
    settings.REDIS_URL = "http://127.0.0.1:6379"
    assert ids(settings) == ["runnerhub.E003"]


@pytest.mark.parametrize("value", ["sentinel-0", "sentinel-0:", "sentinel-0:port", ":26379",
                                   "sentinel-0:0", "sentinel-0:65536", "::1:26379"])
def test_e009_a_sentinel_that_is_not_host_and_port(settings, value: str) -> None:
    settings.REDIS_SENTINELS = ["10.0.0.5:26379", value]
    settings.REDIS_MIN_REPLICAS_ACK = 1

    [problem] = check_configuration()

    assert problem.id == "runnerhub.E009"
    assert repr(value) in problem.msg and "10.0.0.5" not in problem.msg


@pytest.mark.parametrize("name", ["", "RunnerHub", "run/ner", "a@b", "a:b", "-runnerhub"])
def test_e010_a_sentinel_master_name_a_url_cannot_carry(settings, name: str) -> None:
    settings.REDIS_SENTINELS = ["10.0.0.5:26379", "[fd00::6]:26379"]
    settings.REDIS_SENTINEL_MASTER = name
    settings.REDIS_MIN_REPLICAS_ACK = 1
    assert ids(settings) == ["runnerhub.E010"]


def test_sentinel_settings_that_can_work_pass(settings) -> None:
    settings.REDIS_SENTINELS = ["10.0.0.5:26379", "sentinel-1.redis.svc:26379", "[fd00::6]:26379"]
    settings.REDIS_SENTINEL_MASTER = "runnerhub-prod_1.a"
    settings.REDIS_MIN_REPLICAS_ACK = 1
    assert ids(settings) == []


@pytest.mark.parametrize("milliseconds", [2000, 5000])
def test_e011_a_replica_ack_timeout_the_socket_would_cut_short(settings, milliseconds) -> None:
    settings.REDIS_MIN_REPLICAS_ACK = 1
    settings.REDIS_REPLICA_ACK_TIMEOUT_MS = milliseconds
    assert ids(settings) == ["runnerhub.E011"]
    settings.REDIS_MIN_REPLICAS_ACK = 0  # then no WAIT is sent
    assert ids(settings) == []


def test_w003_sentinel_without_waiting_for_a_replica(settings) -> None:
    settings.REDIS_SENTINELS = ["10.0.0.5:26379"]
    settings.REDIS_MIN_REPLICAS_ACK = 0
    assert ids(settings) == ["runnerhub.W003"]


def test_the_server_refuses_to_start_with_a_bad_sentinel_address() -> None:
    env = production_env(GITHUB_WEBHOOK_SECRET="s" * 32, REDIS_SENTINELS="10.0.0.5:26379,redis")
    result = start_wsgi(env)
    assert result.returncode != 0
    assert "runnerhub.E009: REDIS_SENTINELS has 'redis', which is not host:port." in result.stderr


def test_e004_staging_url_that_is_not_http(settings) -> None:
    settings.STAGING_URL = "ftp://staging"
    assert ids(settings) == ["runnerhub.E004"]


def test_w001_short_secret_in_development(settings) -> None:
    settings.DEBUG = True
    settings.GITHUB_WEBHOOK_SECRETS = ["short"]
    assert ids(settings) == ["runnerhub.W001"]


@pytest.mark.parametrize("length", [1, 16, 31])
def test_e006_a_secret_under_32_characters_in_production(settings, length: int) -> None:
    settings.DEBUG = False
    settings.GITHUB_WEBHOOK_SECRETS = ["s" * 40, "p" * length]  # a short previous one counts too
    [problem] = check_configuration()
    assert (problem.id, problem.is_serious()) == ("runnerhub.E006", True)
    assert "shorter than 32 characters" in problem.msg


def test_a_secret_of_32_characters_passes_in_production(settings) -> None:
    settings.DEBUG = False
    settings.GITHUB_WEBHOOK_SECRETS = ["s" * 32]
    assert ids(settings) == []


def test_e002_no_environment_when_debug_is_off(settings) -> None:
    settings.RUNNERHUB_ENV = ""
    [problem] = check_configuration()
    assert problem.id == "runnerhub.E002"
    assert "RUNNERHUB_ENV is not set" in problem.msg


def test_runnerhub_env_has_no_default_with_debug_off() -> None:
    env = production_env(GITHUB_WEBHOOK_SECRET="s" * 32)
    env.pop("RUNNERHUB_ENV", None)
    result = start_wsgi(env)
    assert result.returncode != 0
    assert "runnerhub.E002: RUNNERHUB_ENV is not set" in result.stderr


@pytest.mark.parametrize("url", ["http:///hooks", "https://:8443/", "http://user@/"])
def test_e007_staging_url_without_a_host(settings, url: str) -> None:
    settings.STAGING_URL = url
    assert ids(settings) == ["runnerhub.E007"]


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (["runnerhub.example.org"], "https://runnerhub.example.org/"),
        (["runnerhub.example.org"], "https://RunnerHub.example.org:8443/hooks"),
        ([".example.org"], "http://staging.example.org/"),
        (["127.0.0.1", "localhost"], "http://127.0.0.1:8080/"),
        # A name Django's host parse refuses (an underscore) is compared whole.
        (["my_runnerhub.example.org"], "https://my_runnerhub.example.org/"),
    ],
)
def test_e008_staging_url_pointing_at_this_deployment(settings, allowed, url) -> None:
    settings.ALLOWED_HOSTS = allowed
    settings.STAGING_URL = url
    assert ids(settings) == ["runnerhub.E008"]


def test_a_staging_url_on_another_host_passes(settings) -> None:
    settings.ALLOWED_HOSTS = ["runnerhub.example.org"]  # a wildcard (*) never counts
    settings.STAGING_URL = "https://staging.runnerhub.example.org/"
    assert ids(settings) == []
    settings.ALLOWED_HOSTS = ["*"]
    assert ids(settings) == []


def production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "GITHUB_WEBHOOK_SECRET")}
    env.update(
        DJANGO_SETTINGS_MODULE="runnerhub.settings", DEBUG="0", SECRET_KEY="k" * 50,
        RUNNERHUB_ENV="prod",
    )  # fmt: skip
    env.update(overrides)
    return env


def start_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import runnerhub.wsgi"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_server_refuses_to_start_without_a_webhook_secret() -> None:
    result = start_wsgi(production_env())
    assert result.returncode != 0
    assert "runnerhub.E001: GITHUB_WEBHOOK_SECRET is not set" in result.stderr


def test_the_server_refuses_to_start_without_a_secret_key() -> None:
    result = start_wsgi(production_env(SECRET_KEY="", GITHUB_WEBHOOK_SECRET="s" * 32))
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_the_server_starts_with_both() -> None:
    result = start_wsgi(production_env(GITHUB_WEBHOOK_SECRET="s" * 32))
    assert result.returncode == 0, result.stderr


def test_every_reader_takes_its_value_from_name_file(monkeypatch, tmp_path) -> None:
    values = {"RH_FLAG": "on\n", "RH_COUNT": "42\n", "RH_SECONDS": "2.5\n", "RH_LIST": "a,b\n"}
    for name, value in values.items():
        (tmp_path / name).write_text(value)
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
        monkeypatch.setenv(name, "ignored when the file is named")
    assert env_bool("RH_FLAG", False) is True
    assert env_int("RH_COUNT", 1) == 42
    assert env_float("RH_SECONDS", 1.0) == 2.5
    assert env_list("RH_LIST") == ["a", "b"]


def test_the_webhook_secret_is_taken_whole(monkeypatch) -> None:
    # Commas, spaces and all: no part of it is a secret on its own.
    whole = "x,9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 "
    env = production_env(GITHUB_WEBHOOK_SECRET=whole, GITHUB_WEBHOOK_SECRET_PREVIOUS="o" * 32 + ", p")
    code = "from django.conf import settings as s; print(repr(s.GITHUB_WEBHOOK_SECRETS))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == repr([whole, "o" * 32, "p"]), result.stderr


def test_env_helpers_read_typed_values(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RH_FLAG", "yes")
    monkeypatch.setenv("RH_COUNT", "12")
    monkeypatch.setenv("RH_LIST", " a, b ,,c ")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("RH_SECRET_FILE", str(secret))
    assert env_bool("RH_FLAG", False) is True
    assert env_bool("RH_MISSING", True) is True
    assert env_int("RH_COUNT", 1) == 12
    assert env_list("RH_LIST") == ["a", "b", "c"]
    assert env_str("RH_SECRET") == "from-a-file"


@pytest.mark.parametrize(
    ("name", "value", "reader", "message"),
    [
        ("RH_FLAG", "maybe", lambda: env_bool("RH_FLAG", False), "must be a boolean"),
        ("RH_COUNT", "ten", lambda: env_int("RH_COUNT", 1), "must be a whole number"),
        ("RH_COUNT", "-1", lambda: env_int("RH_COUNT", 1, minimum=0), "must be at least 0"),
        ("RH_SECONDS", "soon", lambda: env_float("RH_SECONDS", 1.0), "must be a number"),
        ("RH_SECONDS", "nan", lambda: env_float("RH_SECONDS", 1.0), "must be at least"),
        ("RH_SECONDS", "inf", lambda: env_float("RH_SECONDS", 1.0), "must be at least"),
        ("RH_SECRET_FILE", "/nonexistent/secret", lambda: env_str("RH_SECRET"), "cannot read"),
    ],
)
def test_env_helpers_refuse_bad_values(monkeypatch, name, value, reader, message) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_env_helpers_record_each_name_with_the_minimum_it_accepts(monkeypatch) -> None:
    monkeypatch.setattr(env, "READ", {})
    env_int("RH_COUNT", 1, minimum=3)
    env_float("RH_SECONDS", 1.0)
    env_list("RH_LIST")
    env_bool("RH_FLAG", False)
    assert env.READ == {"RH_COUNT": 3, "RH_SECONDS": 0.0, "RH_LIST": None, "RH_FLAG": None}


@pytest.mark.parametrize("seconds", [10, 30])
def test_a_staging_timeout_github_would_outlast_is_an_error(settings: Any, seconds: int) -> None:
    settings.STAGING_TIMEOUT_SECONDS = seconds

    [problem] = [p for p in check_configuration() if p.id == "runnerhub.E005"]

    assert problem.is_serious()
    assert f"STAGING_TIMEOUT_SECONDS is {seconds}" in problem.msg


@pytest.mark.parametrize("seconds", [1, 8, 9])
def test_a_staging_timeout_under_githubs_passes(settings: Any, seconds: int) -> None:
    settings.STAGING_TIMEOUT_SECONDS = seconds

    assert "runnerhub.E005" not in ids(settings)
