"""Label matching: a job's `runs-on` labels to the mapping (pool and image) that serves it.

Rules, in order:
- A mapping matches when one of the job's labels matches its label (case-insensitive, globs
  allowed) and every other label of the job is among the mapping's extra labels (globs allowed
  there too).
- Only the most specific scope with enabled mappings for the job's repository decides:
  repository-scoped, then account-scoped, then global.
- Within that scope exact labels beat globs, then the lower priority number wins, then the
  label and the id break ties, so the answer never depends on row order.
"""
import enum
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Scope(enum.IntEnum):
    """How widely a mapping applies, the most specific first. In the database,
    `LabelMapping.objects.with_scope()` annotates each mapping with the same value."""

    REPOSITORY = 0
    ACCOUNT = 1
    GLOBAL = 2

    @classmethod
    def of(cls, owner_id: int | None, repo_glob: str) -> "Scope":
        """No account: global; an account and a repository glob: repository; else account."""
        if owner_id is None:
            return cls.GLOBAL
        return cls.REPOSITORY if repo_glob else cls.ACCOUNT

    @property
    def word(self) -> str:
        """`repository`, `account` or `global`: how the admin and the preview name it."""
        return self.name.lower()


def is_glob(label: str) -> bool:
    return any(char in label for char in "*?[")


class MappingRow(Protocol):
    id: int | None
    label: str
    pool: str
    image: str
    extra_labels: list[str]
    owner_id: int | None
    repo_glob: str
    priority: int
    enabled: bool


@dataclass(frozen=True)
class Rule:
    """A mapping prepared for matching."""

    mapping_id: int
    label: str
    glob: re.Pattern[str] | None
    pool: str
    image: str
    extras: frozenset[str]  # exact extra labels
    extra_globs: tuple[re.Pattern[str], ...]  # and those written as globs
    owner_id: int | None
    repo_glob: re.Pattern[str] | None
    priority: int
    enabled: bool
    scope: Scope

    @property
    def order(self) -> tuple[int, bool, int, str, int]:
        return (self.scope, self.glob is not None, self.priority, self.label, self.mapping_id)

    def covers(self, owner_id: int, repo_name: str) -> bool:
        if self.owner_id is not None and self.owner_id != owner_id:
            return False
        return self.repo_glob is None or bool(self.repo_glob.match(repo_name.lower()))

    def matches_label(self, label: str) -> bool:
        return bool(self.glob.match(label)) if self.glob else label == self.label

    def tolerates(self, label: str) -> bool:
        """Whether `label` is among the extra labels, exactly or by one of their globs."""
        return label in self.extras or any(glob.match(label) for glob in self.extra_globs)

    def untolerated(self, labels: frozenset[str]) -> frozenset[str] | None:
        """None when no job label matches; else the other labels the mapping does not tolerate.

        The smallest leftover over all choices of the matching label is returned, so an empty
        set means the mapping accepts the job. One pass over the labels: choosing a matching
        label that is not tolerated leaves one fewer, so any such label is the best choice.
        """
        leftover = {label for label in labels if not self.tolerates(label)}
        matching = [label for label in labels if self.matches_label(label)]
        if not matching:
            return None
        chosen = [label for label in matching if label in leftover]
        if chosen:
            leftover.discard(min(chosen))  # the same choice every time, for the preview
        return frozenset(leftover)


@dataclass(frozen=True)
class Match:
    mapping_id: int
    label: str
    pool: str
    image: str
    scope: Scope


@dataclass(frozen=True)
class Verdict:
    """Why one mapping did or did not serve a job, for the admin preview."""

    mapping_id: int
    label: str
    pool: str
    image: str
    scope: Scope
    won: bool
    reason: str


def compile_rules(mappings: Iterable[MappingRow]) -> tuple[Rule, ...]:
    """Mappings as rules, in the order in which they are tried."""
    rules = [_rule(mapping) for mapping in mappings]
    return tuple(sorted(rules, key=lambda rule: rule.order))


def _rule(mapping: MappingRow) -> Rule:
    label = mapping.label.strip().lower()
    repo_glob = mapping.repo_glob.strip().lower()
    extras = {extra.strip().lower() for extra in mapping.extra_labels or []}
    return Rule(
        mapping_id=mapping.id or 0,
        label=label,
        glob=re.compile(fnmatch.translate(label)) if is_glob(label) else None,
        pool=mapping.pool,
        image=mapping.image,
        extras=frozenset(extra for extra in extras if not is_glob(extra)),
        extra_globs=tuple(
            re.compile(fnmatch.translate(extra)) for extra in sorted(extras) if is_glob(extra)
        ),
        owner_id=mapping.owner_id,
        repo_glob=re.compile(fnmatch.translate(repo_glob)) if repo_glob else None,
        priority=mapping.priority,
        enabled=mapping.enabled,
        scope=Scope.of(mapping.owner_id, repo_glob),
    )


def normalise(labels: Iterable[str]) -> frozenset[str]:
    return frozenset(label.strip().lower() for label in labels)


def deciding_scope(rules: Sequence[Rule], owner_id: int, repo_name: str) -> Scope | None:
    scopes = [rule.scope for rule in rules if rule.enabled and rule.covers(owner_id, repo_name)]
    return min(scopes, default=None)


def match(rules: Sequence[Rule], labels: Iterable[str], owner_id: int, repo_name: str) -> Match | None:
    """The mapping that serves a job with these labels in this repository, or None."""
    job_labels = normalise(labels)
    if not job_labels:
        return None
    scope = deciding_scope(rules, owner_id, repo_name)
    for rule in rules:
        if rule.scope != scope or not rule.enabled or not rule.covers(owner_id, repo_name):
            continue
        if rule.untolerated(job_labels) == frozenset():
            return Match(rule.mapping_id, rule.label, rule.pool, rule.image, rule.scope)
    return None


def explain(
    rules: Sequence[Rule], labels: Iterable[str], owner_id: int, repo_name: str
) -> tuple[Match | None, list[Verdict]]:
    """The same answer as `match`, with the reason every other mapping did not win."""
    job_labels = normalise(labels)
    winner = match(rules, job_labels, owner_id, repo_name)
    scope = deciding_scope(rules, owner_id, repo_name)
    verdicts = []
    for rule in rules:
        won = winner is not None and rule.mapping_id == winner.mapping_id
        reason = "wins" if won else _why_not(rule, job_labels, owner_id, repo_name, scope, winner)
        verdicts.append(
            Verdict(rule.mapping_id, rule.label, rule.pool, rule.image, rule.scope, won, reason)
        )
    return winner, verdicts


def _why_not(
    rule: Rule,
    labels: frozenset[str],
    owner_id: int,
    repo_name: str,
    scope: Scope | None,
    winner: Match | None,
) -> str:
    if not rule.enabled:
        return "disabled"
    if rule.owner_id is not None and rule.owner_id != owner_id:
        return "scoped to another account"
    if not rule.covers(owner_id, repo_name):
        return "repository name does not match its glob"
    if rule.scope != scope and scope is not None:
        return f"a more specific scope ({scope.word}) has mappings for this repository"
    if not labels:
        return "the job has no labels"
    leftover = rule.untolerated(labels)
    if leftover is None:
        return "its label matches none of the job's labels"
    if leftover:
        return "the job's other labels are not in its extra labels: " + ", ".join(sorted(leftover))
    assert winner is not None  # it accepts the job, so a rule of its scope came before it
    if rule.glob is not None and not is_glob(winner.label):
        return f"mapping {winner.mapping_id} has an exact label, which beats a glob"
    return f"mapping {winner.mapping_id} comes first (lower priority number, then label and id)"
