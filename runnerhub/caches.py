"""RunnerHub's Redis as Django's CACHES entry: one URL, or the primary that Sentinel names.

django-redis makes the connection either way, so `webhooks.store.client()`, and everything that
talks to Redis through it (the webhook, the reports, the scheduler), follows a failover without
knowing about Sentinel: a connection to a primary that died or was demoted fails (a 503), and
the next one asks the sentinels where the primary is now.
"""
import re
from typing import Any

# Redis holds RunnerHub's state, not a cache: errors must surface (no IGNORE_EXCEPTIONS) and
# short timeouts turn an unreachable Redis into a quick 503 instead of a hung worker.
SOCKET_CONNECT_TIMEOUT = 1
SOCKET_TIMEOUT = 2
# django-redis carries the Sentinel service name as the host of a URL, which urllib lowercases
# and which cannot hold `/`, `@` or `:`: a name outside this would never be found.
SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def sentinel_address(value: str) -> tuple[str, int] | None:
    """`host:port` (`[v6]:port` too) as an address, or None when it is not one."""
    value = value.strip()
    if value.startswith("["):
        host, separator, port = value[1:].partition("]:")
    else:
        host, separator, port = value.partition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def redis_cache(
    url: str,
    sentinels: list[str],
    service: str,
    password: str = "",
    sentinel_password: str = "",
) -> dict[str, Any]:
    """The `CACHES["default"]` entry: `url` when `sentinels` is empty, else the primary of
    `service` as the sentinels name it (`url` is then unused), every read and write on it.

    Entries of `sentinels` that are not `host:port` are left out here and reported by check
    runnerhub.E009, which stops the server at start-up.
    """
    options: dict[str, Any] = {
        "SOCKET_CONNECT_TIMEOUT": SOCKET_CONNECT_TIMEOUT,
        "SOCKET_TIMEOUT": SOCKET_TIMEOUT,
        "CONNECTION_POOL_KWARGS": {"health_check_interval": 30},
    }
    if password:
        options["PASSWORD"] = password  # a password in REDIS_URL takes precedence
    if not sentinels:
        return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "OPTIONS": options}
    sentinel_options: dict[str, Any] = {
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
    }
    if sentinel_password:
        sentinel_options["password"] = sentinel_password
    options.update(
        # For this cache only; DJANGO_REDIS_CONNECTION_FACTORY would change every cache.
        CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
        SENTINELS=[address for address in map(sentinel_address, sentinels) if address],
        SENTINEL_KWARGS=sentinel_options,
    )
    # django-redis's default client with one primary-only location, not its SentinelClient:
    # that one sends reads to a replica, and a replica's view of RunnerHub's state lags.
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://{service}/0",
        "OPTIONS": options,
    }
