"""runnerhub/caches.py: the Redis connection Django's cache makes, from a URL or from Sentinel."""
import subprocess
import sys
from pathlib import Path

from redis.sentinel import SentinelConnectionPool

from runnerhub.caches import redis_cache

ROOT = Path(__file__).resolve().parent.parent


def test_without_sentinels_it_connects_to_the_url_with_short_timeouts() -> None:
    cache = redis_cache("redis://10.0.0.4:6379/0", [], "runnerhub")

    assert cache["LOCATION"] == "redis://10.0.0.4:6379/0"
    options = cache["OPTIONS"]
    assert (options["SOCKET_CONNECT_TIMEOUT"], options["SOCKET_TIMEOUT"]) == (1, 2)
    assert "CONNECTION_FACTORY" not in options and "IGNORE_EXCEPTIONS" not in options


def test_with_sentinels_it_asks_them_for_the_primary_of_the_service() -> None:
    cache = redis_cache(
        "redis://unused:6379/0", ["10.0.0.5:26379", " [fd00::6]:26380", "bad"], "runnerhub",
        password="primary-secret", sentinel_password="sentinel-secret",
    )  # fmt: skip

    options = cache["OPTIONS"]
    assert cache["LOCATION"] == "redis://runnerhub/0"
    assert options["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert "CLIENT_CLASS" not in options  # the default client: reads go to the primary too
    assert options["SENTINELS"] == [("10.0.0.5", 26379), ("fd00::6", 26380)]  # bad: E009
    assert options["PASSWORD"] == "primary-secret"
    assert options["SENTINEL_KWARGS"] == {
        "socket_connect_timeout": 1, "socket_timeout": 2, "password": "sentinel-secret",
    }  # fmt: skip
    assert (options["SOCKET_CONNECT_TIMEOUT"], options["SOCKET_TIMEOUT"]) == (1, 2)
    assert "IGNORE_EXCEPTIONS" not in options


def test_with_sentinels_set_the_store_client_finds_the_primary_through_them() -> None:
    """From the environment, as a server reads it: no Redis needs to answer for this."""
    code = (
        "from webhooks import store; pool = store.client().connection_pool; "
        "print(type(pool).__name__, pool.service_name, pool.is_master, "
        "pool.sentinel_manager.sentinels[1].connection_pool.connection_kwargs['port'], "
        "pool.connection_kwargs['socket_timeout'])"
    )
    env = {"REDIS_SENTINELS": "127.0.0.1:26379,127.0.0.1:26380", "REDIS_SENTINEL_MASTER": "rh"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "runnerhub.settings",
             **env},
    )  # fmt: skip

    assert result.stdout.split() == [SentinelConnectionPool.__name__, "rh", "True", "26380", "2"]
