"""GET /health: does this process, its database and its Redis answer?"""
import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from webhooks import store

log = logging.getLogger(__name__)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "redis": _redis()}
    down = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "down: " + ", ".join(down) if down else "ok", **checks}
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
