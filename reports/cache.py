"""A short-lived, per-process cache of the report pages anonymous viewers get.

Anonymous viewers all see the same page (private repositories masked), so a crowd, a
dashboard on every screen or a loop asking for one page can share one drawing of it for
REPORT_CACHE_SECONDS. Signed-in viewers are never served from it: staff see private names.
The drawings are kept in Django's per-process memory cache (`CACHES["pages"]`), bounded in
entries, so that varied query strings cannot grow it.
"""
import hashlib
from dataclasses import dataclass

from django.core.cache import caches


@dataclass(frozen=True)
class CachedPage:
    status: int
    content: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]  # those the page set itself (Link)


def get(key: tuple[str, ...]) -> CachedPage | None:
    return caches["pages"].get(_name(key))


def put(key: tuple[str, ...], page: CachedPage, seconds: int) -> None:
    caches["pages"].set(_name(key), page, timeout=seconds)


def clear() -> None:
    caches["pages"].clear()


def _name(key: tuple[str, ...]) -> str:
    """A cache key of any path and query string: no length or character a cache refuses."""
    return hashlib.sha256("\n".join(key).encode()).hexdigest()
