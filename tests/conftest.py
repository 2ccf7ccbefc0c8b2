import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.servers.basehttp import get_internal_wsgi_application

from harness.redis_server import RedisServer
from harness.webhook_client import deliver_to
from tests.scheduler_support import (  # noqa: F401  (the scheduler's fixtures, for every module)
    fake_github,
    fake_kube,
    make_scheduler,
    scheduler,
    scheduler_settings,
    world,
)
from webhooks import config, proxy

_server: RedisServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the suite's own Redis before anything opens a connection to it."""
    global _server
    _server = RedisServer().start()
    settings.REDIS_URL = _server.url
    settings.CACHES["default"]["LOCATION"] = _server.url
    os.environ["REDIS_URL"] = _server.url  # for the servers that tests start


# Fixtures that give a test Django's test database.
DATABASE_FIXTURES = {"db", "transactional_db", "admin_client", "admin_user", "django_user_model"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches a database, for the run on PostgreSQL (make test-postgres).
    Tests whose servers' databases matter are marked `database` in their modules."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("django_db") or fixtures & DATABASE_FIXTURES:
            item.add_marker(pytest.mark.database)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.cleanup()


@pytest.fixture
def redis_server() -> RedisServer:
    assert _server is not None
    return _server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client()


def _start_afresh(redis_server: RedisServer) -> None:
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()  # a test stopped it
    redis_server.client().flushall()
    config.invalidate()
    proxy.breaker.reset()


@pytest.fixture(autouse=True)
def _clean_state(redis_server: RedisServer) -> Iterator[None]:
    _start_afresh(redis_server)
    yield
    config.invalidate()


@pytest.fixture
def fresh_state(redis_server: RedisServer) -> Callable[[], None]:
    """Within a test, go back to the state every test starts from: an empty Redis, no cached
    mappings, staging's breaker closed."""
    return lambda: _start_afresh(redis_server)


@pytest.fixture(scope="session")
def wsgi_application() -> Any:
    """The WSGI application gunicorn serves (WSGI_APPLICATION): deliveries on the fast path,
    everything else through Django. Loaded before any test changes the settings whose checks
    stop its start-up."""
    return get_internal_wsgi_application()


@pytest.fixture
def deliver(wsgi_application: Any) -> Callable[..., Any]:
    """POST a signed delivery to the WSGI application gunicorn serves."""
    return lambda *args, **kwargs: deliver_to(wsgi_application, *args, **kwargs)
