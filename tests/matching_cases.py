"""Label matching cases, shared by the matching tests, the admin preview tests and the webhook.

Each case is a set of mappings, a job (labels, owner, repository) and the pool that must serve
it, or None when no mapping may. Apart from the public defaults (which share pools as production
does), every mapping of a case has its own pool, so the pool names the winner. The same cases run
through `matching.match`, the admin preview and a real delivery, so the preview provably answers
as the webhook does.
"""
import importlib
from dataclasses import dataclass, field
from typing import Any

OWNER = 9_100_000_001  # past 2**32, as GitHub's newer ids are
OTHER_OWNER = 9_100_000_002
REPO = "linux-riscv"
IMAGE = "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest"


@dataclass(frozen=True)
class MatchCase:
    name: str
    mappings: tuple[dict[str, Any], ...]
    labels: tuple[str, ...]
    expected_pool: str | None
    owner_id: int = OWNER
    repo_name: str = REPO
    notes: str = field(default="", compare=False)

    def rows(self) -> list[dict[str, Any]]:
        """The mappings as LabelMapping fields, with the defaults filled in."""
        defaults = {
            "extra_labels": [],
            "owner_id": None,
            "repo_glob": "",
            "priority": 100,
            "enabled": True,
            "image": IMAGE,
        }
        return [{**defaults, **mapping} for mapping in self.mappings]


def mapping(label: str, pool: str, **fields: Any) -> dict[str, Any]:
    return {"label": label, "pool": pool, **fields}


def _public_defaults() -> tuple[dict[str, Any], ...]:
    module = importlib.import_module("webhooks.migrations.0002_default_mappings")
    return tuple(module.defaults())


PUBLIC = _public_defaults()

CASES: tuple[MatchCase, ...] = (
    # The public labels, as a fresh install has them.
    MatchCase("public 24.04", PUBLIC, ("ubuntu-24.04-riscv",), "scw-em-rv1"),
    MatchCase("public 24.04 2xlarge", PUBLIC, ("ubuntu-24.04-riscv-2xlarge",), "cloudv10x-pioneer"),
    MatchCase("public 26.04 rvv", PUBLIC, ("ubuntu-26.04-riscv-rvv",), "cloudv10x-rvv"),
    MatchCase("public labels only", PUBLIC, ("ubuntu-latest",), None),
    MatchCase("public with self-hosted", PUBLIC, ("self-hosted", "ubuntu-24.04-riscv"), None),
    # Case-insensitivity.
    MatchCase(
        "job label in capitals", (mapping("ubuntu-24.04-riscv", "a"),), ("Ubuntu-24.04-RISCV",), "a"
    ),
    MatchCase(
        "mapping label in capitals",
        (mapping("UBUNTU-24.04-riscv", "a"),),
        ("ubuntu-24.04-riscv",),
        "a",
    ),
    MatchCase(
        "one label twice in two cases",
        (mapping("ubuntu-24.04-riscv", "a"),),
        ("ubuntu-24.04-riscv", "UBUNTU-24.04-RISCV"),
        "a",
    ),
    # Extra labels.
    MatchCase("no labels", (mapping("ubuntu-24.04-riscv", "a"),), (), None),
    MatchCase(
        "an extra label not tolerated",
        (mapping("ubuntu-24.04-riscv", "a"),),
        ("ubuntu-24.04-riscv", "gpu"),
        None,
    ),
    MatchCase(
        "an extra label tolerated",
        (mapping("ubuntu-24.04-riscv", "a", extra_labels=["self-hosted"]),),
        ("self-hosted", "ubuntu-24.04-riscv"),
        "a",
    ),
    MatchCase(
        "extra labels tolerated in any case",
        (mapping("ubuntu-24.04-riscv", "a", extra_labels=["Self-Hosted"]),),
        ("SELF-HOSTED", "ubuntu-24.04-riscv"),
        "a",
    ),
    MatchCase(
        "an extra label tolerated by a glob",
        (mapping("ubuntu-24.04-riscv", "a", extra_labels=["linux-*", "self-hosted"]),),
        ("ubuntu-24.04-riscv", "Linux-X64", "self-hosted"),
        "a",
    ),
    MatchCase(
        "an extra label the extra globs do not match",
        (mapping("ubuntu-24.04-riscv", "a", extra_labels=["linux-?64"]),),
        ("ubuntu-24.04-riscv", "linux-arm64"),
        None,
    ),
    MatchCase(
        "a glob label whose job labels are all tolerated extras too",
        (mapping("ubuntu-*-riscv", "a", extra_labels=["ubuntu-*"]),),
        ("ubuntu-24.04-riscv", "ubuntu-26.04-riscv"),
        "a",
    ),
    MatchCase(
        "tolerated extra labels are not required",
        (mapping("ubuntu-24.04-riscv", "a", extra_labels=["self-hosted", "linux"]),),
        ("ubuntu-24.04-riscv",),
        "a",
    ),
    MatchCase(
        "two mapped labels, neither tolerating the other",
        (mapping("ubuntu-24.04-riscv", "a"), mapping("rvv", "b")),
        ("ubuntu-24.04-riscv", "rvv"),
        None,
    ),
    MatchCase(
        "two mapped labels, one tolerating the other",
        (
            mapping("ubuntu-24.04-riscv", "a"),
            mapping("rvv", "b", extra_labels=["ubuntu-24.04-riscv"]),
        ),
        ("ubuntu-24.04-riscv", "rvv"),
        "b",
    ),
    # Globs.
    MatchCase("star glob", (mapping("ubuntu-*-riscv", "a"),), ("ubuntu-26.04-riscv",), "a"),
    MatchCase(
        "star glob in capitals", (mapping("Ubuntu-*-RISCV", "a"),), ("ubuntu-26.04-riscv",), "a"
    ),
    MatchCase("glob not matching", (mapping("ubuntu-*-riscv", "a"),), ("debian-13-riscv64",), None),
    MatchCase("question mark glob", (mapping("board-?", "a"),), ("board-7",), "a"),
    MatchCase("question mark is one character", (mapping("board-?", "a"),), ("board-17",), None),
    MatchCase("bracket glob", (mapping("board-[ab]", "a"),), ("board-b",), "a"),
    MatchCase("bracket glob not matching", (mapping("board-[ab]", "a"),), ("board-c",), None),
    MatchCase(
        "glob as the only label with a tolerated extra",
        (mapping("ubuntu-*", "a", extra_labels=["self-hosted"]),),
        ("self-hosted", "ubuntu-24.04-riscv"),
        "a",
    ),
    # Specificity and tie-breaks within a scope.
    MatchCase(
        "an exact label beats a glob of better priority",
        (
            mapping("ubuntu-*", "glob", priority=1),
            mapping("ubuntu-24.04-riscv", "exact", priority=500),
        ),
        ("ubuntu-24.04-riscv",),
        "exact",
    ),
    MatchCase(
        "the lower priority number wins among globs",
        (mapping("ubuntu-*", "first", priority=50), mapping("*-riscv", "second", priority=10)),
        ("ubuntu-24.04-riscv",),
        "second",
    ),
    MatchCase(
        "the lower priority number wins for one label",
        (
            mapping("ubuntu-24.04-riscv", "low", priority=10),
            mapping("ubuntu-24.04-riscv", "high", priority=20),
        ),
        ("ubuntu-24.04-riscv",),
        "low",
    ),
    MatchCase(
        "a later mapping serves what the first does not tolerate",
        (
            mapping("ubuntu-24.04-riscv", "plain", priority=10),
            mapping("ubuntu-24.04-riscv", "gpu", priority=20, extra_labels=["gpu"]),
        ),
        ("ubuntu-24.04-riscv", "gpu"),
        "gpu",
    ),
    MatchCase(
        "equal priorities fall back to the label",
        (mapping("ub*", "second"), mapping("u*", "first")),
        ("ubuntu-24.04-riscv",),
        "first",
    ),
    # Scopes.
    MatchCase(
        "an account mapping beats a global one",
        (
            mapping("ubuntu-24.04-riscv", "global"),
            mapping("ubuntu-24.04-riscv", "account", owner_id=OWNER),
        ),
        ("ubuntu-24.04-riscv",),
        "account",
    ),
    MatchCase(
        "another account's mapping does not apply",
        (
            mapping("ubuntu-24.04-riscv", "global"),
            mapping("ubuntu-24.04-riscv", "other", owner_id=OTHER_OWNER),
        ),
        ("ubuntu-24.04-riscv",),
        "global",
    ),
    MatchCase(
        "a repository mapping beats an account one",
        (
            mapping("ubuntu-24.04-riscv", "account", owner_id=OWNER),
            mapping("ubuntu-24.04-riscv", "repository", owner_id=OWNER, repo_glob="linux-*"),
        ),
        ("ubuntu-24.04-riscv",),
        "repository",
    ),
    MatchCase(
        "a repository glob that does not match leaves the account scope",
        (
            mapping("ubuntu-24.04-riscv", "account", owner_id=OWNER),
            mapping("ubuntu-24.04-riscv", "repository", owner_id=OWNER, repo_glob="gcc*"),
        ),
        ("ubuntu-24.04-riscv",),
        "account",
    ),
    MatchCase(
        "repository globs ignore case",
        (mapping("ubuntu-24.04-riscv", "repository", owner_id=OWNER, repo_glob="Linux-*"),),
        ("ubuntu-24.04-riscv",),
        "repository",
        repo_name="LINUX-RISCV",
    ),
    MatchCase(
        "the most specific scope decides alone, even without a match",
        (
            mapping("ubuntu-24.04-riscv", "global"),
            mapping("ubuntu-26.04-riscv", "account", owner_id=OWNER),
        ),
        ("ubuntu-24.04-riscv",),
        None,
    ),
    MatchCase(
        "an exact global label does not beat an account glob",
        (mapping("ubuntu-24.04-riscv", "global"), mapping("ubuntu-*", "account", owner_id=OWNER)),
        ("ubuntu-24.04-riscv",),
        "account",
    ),
    # Disabled mappings.
    MatchCase(
        "a disabled mapping does not match",
        (mapping("ubuntu-24.04-riscv", "a", enabled=False),),
        ("ubuntu-24.04-riscv",),
        None,
    ),
    MatchCase(
        "a disabled account mapping leaves the global scope deciding",
        (
            mapping("ubuntu-24.04-riscv", "global"),
            mapping("ubuntu-24.04-riscv", "account", owner_id=OWNER, enabled=False),
        ),
        ("ubuntu-24.04-riscv",),
        "global",
    ),
    MatchCase(
        "a disabled better mapping lets the next one win",
        (
            mapping("ubuntu-24.04-riscv", "best", priority=1, enabled=False),
            mapping("ubuntu-24.04-riscv", "next", priority=2),
        ),
        ("ubuntu-24.04-riscv",),
        "next",
    ),
)
