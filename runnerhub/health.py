"""GET /health: does this process, its database and its Redis answer? And has the scheduler
completed a pass lately?

The status code speaks for this process only (it is the web tier's readiness probe: a stuck
scheduler must not take the webhook out of service); the scheduler's state is in the body for
monitors to alert on.
"""
import logging
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from runners import store as runner_store
from webhooks import store

# A scheduler that has not completed a pass for this many intervals is reported stale.
STALE_INTERVALS = 3

log = logging.getLogger(__name__)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "redis": _redis()}
    down = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "down: " + ", ".join(down) if down else "ok", **checks}
    if checks["redis"] == "ok":
        body["scheduler"] = _scheduler()
    return JsonResponse(body, status=503 if down else 200)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        log.error("health.database_down kind=%s", type(exc).__name__)
        return "down"
    return "ok"


def _redis() -> str:
    try:
        store.ping()
    except store.StoreUnavailable:
        return "down"
    return "ok"


def _scheduler() -> str:
    """`ok`, `stale: last pass N s ago`, or `not running` when no pass was ever recorded."""
    try:
        last = runner_store.read_state().get("last_pass_at")
    except store.StoreUnavailable:
        return "unknown"
    if not last:
        return "not running"
    age = time.time() - float(last)
    if age > STALE_INTERVALS * settings.SCHEDULER_INTERVAL_SECONDS:
        log.warning("health.scheduler_stale seconds=%d", age)
        return f"stale: last pass {int(age)} s ago"
    return "ok"
