"""Each process's cache of the label mappings and account flags, kept in step with Redis.

The cache remembers the config version it was loaded at. Every recorded delivery's script checks
that version inside its own atomic write, and a forwarded delivery checks it before leaving, so a
change made in the admin reaches every worker and replica on its next delivery without an extra
round trip for ordinary deliveries.
"""
import logging
import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.db.models import Q

from webhooks import delivery_settings, store
from webhooks.matching import Match, Rule, compile_rules, match
from webhooks.models import Account, LabelMapping

log = logging.getLogger(__name__)


# Distinct (labels, account, repository) a snapshot remembers the match of; past this it
# forgets them all, so that a flood of odd label sets costs matching, not memory.
MATCHES_REMEMBERED = 4096


@dataclass(frozen=True)
class Snapshot:
    version: str
    rules: tuple[Rule, ...]
    staging: frozenset[int]  # owner ids of the accounts flagged staging
    blocked: frozenset[int]  # owner ids of the blocked accounts
    loaded_at: float
    _matches: dict[tuple[tuple[str, ...], int, str], Match | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def match(self, labels: tuple[str, ...], owner_id: int, repo_name: str) -> Match | None:
        """matching.match over these rules, remembered: a deployment's jobs come with few label
        sets from few repositories, and the rules of a snapshot never change."""
        key = (labels, owner_id, repo_name)
        try:
            return self._matches[key]
        except KeyError:
            pass
        found = match(self.rules, labels, owner_id, repo_name)
        if len(self._matches) >= MATCHES_REMEMBERED:
            self._matches.clear()
        self._matches[key] = found
        return found


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def current() -> Snapshot:
    """The cached config, loaded on first use and after `invalidate` or the maximum age.

    A snapshot that is merely old is kept when it cannot be reloaded: the delivery's script
    still refuses it if the version moved, and a database outage does not fail deliveries.
    """
    snapshot = _snapshot
    if snapshot is None:
        return reload()
    if time.monotonic() - snapshot.loaded_at > delivery_settings.current().mapping_cache_seconds:
        try:
            return reload()
        except store.StoreUnavailable:
            log.warning("config.reload_failed version=%s", snapshot.version)
    return snapshot


def reload() -> Snapshot:
    """Load the mappings and account flags again. The version is read first: a change that
    commits in between leaves an older version beside newer rows, which only costs one more
    reload. Raises store.StoreUnavailable when Redis or the database does not answer."""
    global _snapshot
    with _lock:  # one load at a time, so an older load never replaces a newer one
        try:
            _snapshot = from_database(store.config_version())
        except DatabaseError as exc:
            log.error("config.database_error kind=%s", type(exc).__name__)
            raise store.StoreUnavailable("database unavailable") from exc
        return _snapshot


def from_database(version: str = "") -> Snapshot:
    """The mappings and account flags as the database holds them now, not cached.

    The admin preview answers from this rather than from the cache, which may lag an edit made
    in another worker until this worker's next delivery.
    """
    rules = compile_rules(LabelMapping.objects.all())
    # Accounts with neither flag behave like accounts with no row, so they need no memory here.
    flagged = Account.objects.filter(Q(staging=True) | Q(blocked=True))
    staging, blocked = set(), set()
    for github_id, is_staging, is_blocked in flagged.values_list("github_id", "staging", "blocked"):
        if is_staging:
            staging.add(github_id)
        if is_blocked:
            blocked.add(github_id)
    return Snapshot(version, rules, frozenset(staging), frozenset(blocked), time.monotonic())


def invalidate() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
