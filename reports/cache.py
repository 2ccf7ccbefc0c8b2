"""A short-lived, per-process cache of the report pages anonymous viewers get.

Anonymous viewers all see the same page (private repositories masked), so a crowd, a
dashboard on every screen or a loop asking for one page can share one drawing of it for
REPORT_CACHE_SECONDS. Signed-in viewers are never served from it: staff see private names.
Bounded in entries, so that varied query strings cannot grow it.
"""
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_ENTRIES = 128


@dataclass(frozen=True)
class CachedPage:
    status: int
    content: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]  # those the page set itself (Link)
    drawn_at: float


class PageCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, ...], CachedPage] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: tuple[str, ...], max_age: float) -> CachedPage | None:
        with self._lock:
            page = self._entries.get(key)
            if page is None:
                return None
            if time.monotonic() - page.drawn_at >= max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return page

    def put(self, key: tuple[str, ...], page: CachedPage) -> None:
        with self._lock:
            self._entries[key] = page
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


pages = PageCache()
