"""The admin's match preview: what the webhook would do with a queued job, and why."""
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from webhooks import config, matching, proxy
from webhooks.models import Account


class Decision(enum.StrEnum):
    MATCHED = "matched"
    NO_MATCH = "no_match"
    BLOCKED = "blocked"
    FORWARDED = "forwarded"


@dataclass(frozen=True)
class Preview:
    labels: tuple[str, ...]
    owner_id: int
    repo_name: str
    account: Account | None
    decision: Decision
    winner: matching.Match | None
    mappings: tuple[matching.Verdict, ...]


def preview(labels: Sequence[str], owner_id: int, repo_name: str) -> Preview:
    """Explain a queued job with these `runs-on` labels in `repo_name` of account `owner_id`.

    Reads the mappings and accounts from the database as they are now, and decides in the
    webhook's order with the webhook's own functions: forwarded to staging, then blocked, then
    the label match. Returns every mapping with the reason it did or did not win. Writes nothing.
    """
    snapshot = config.from_database()
    winner, mappings = matching.explain(snapshot.rules, labels, owner_id, repo_name)
    if proxy.should_forward(snapshot, owner_id):
        decision = Decision.FORWARDED
    elif owner_id in snapshot.blocked:
        decision = Decision.BLOCKED
    else:
        decision = Decision.MATCHED if winner else Decision.NO_MATCH
    return Preview(
        labels=tuple(labels),
        owner_id=owner_id,
        repo_name=repo_name,
        account=Account.objects.filter(github_id=owner_id).first(),
        decision=decision,
        winner=winner,
        mappings=tuple(mappings),
    )
