"""Each process's cache of the label mappings, kept in step with the version in Redis.

The cache remembers the mapping version it was loaded at; every delivery's script checks that
version inside its own atomic write, so a change made in the admin reaches every worker and
replica on its next delivery without an extra round trip.
"""
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from webhooks import store
from webhooks.matching import Rule, compile_rules
from webhooks.models import LabelMapping


@dataclass(frozen=True)
class Snapshot:
    version: str
    rules: tuple[Rule, ...]
    loaded_at: float


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def current() -> Snapshot:
    """The cached mappings, loaded on first use and after `invalidate` or the maximum age."""
    snapshot = _snapshot
    if snapshot is None or time.monotonic() - snapshot.loaded_at > settings.MAPPING_CACHE_SECONDS:
        snapshot = reload()
    return snapshot


def reload() -> Snapshot:
    """Load the mappings again. The version is read first: a change that commits in between
    leaves an older version beside newer rows, which only costs one more reload."""
    global _snapshot
    version = store.config_version()
    rules = compile_rules(LabelMapping.objects.all())
    with _lock:
        _snapshot = Snapshot(version, rules, time.monotonic())
        return _snapshot


def invalidate() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
