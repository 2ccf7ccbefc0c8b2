"""A job hash as the report pages show it, with private repositories masked for non-staff."""
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

GITHUB = "https://github.com"
PRIVATE_REPOSITORY = "private repository"


@dataclass(frozen=True)
class JobRow:
    """One job. `repo`, `repo_url`, `job_url`, `job_name` and `workflow_name` are None when the
    repository is private and the viewer may not see it (`masked`)."""

    job_id: str
    status: str
    conclusion: str
    entity_id: str
    entity_type: str
    account: str
    pool: str
    labels: tuple[str, ...]
    private: bool
    masked: bool
    repo: str | None
    repo_url: str | None
    job_name: str | None
    workflow_name: str | None
    job_url: str | None
    run_id: str
    run_attempt: str
    runner_name: str
    created_at: float | None
    started_at: float | None
    completed_at: float | None
    wait_seconds: float | None  # queued → started; still growing while pending
    run_seconds: float | None  # started → completed; still growing while running

    def as_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "conclusion": self.conclusion or None,
            "account": self.account,
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "pool": self.pool,
            "labels": list(self.labels),
            "private": self.private,
            "repository": self.repo,
            "repository_url": self.repo_url,
            "job_name": self.job_name,
            "workflow_name": self.workflow_name,
            "job_url": self.job_url,
            "run_id": self.run_id or None,
            "run_attempt": self.run_attempt or None,
            "runner_name": self.runner_name or None,
            "created_at": iso_utc(self.created_at),
            "started_at": iso_utc(self.started_at),
            "completed_at": iso_utc(self.completed_at),
            "wait_seconds": rounded(self.wait_seconds),
            "run_seconds": rounded(self.run_seconds),
        }


def job_row(record: dict[str, str], show_private: bool, now: float) -> JobRow:
    """A job hash (all strings, as reads.read_jobs returns it) as a row, its durations taken
    at `now`.

    Everything here came from a payload: templates escape it, and links are only kept when they
    are https URLs, so a crafted payload cannot smuggle a `javascript:` link onto the page.
    """
    private = record.get("private") == "1"
    masked = private and not show_private
    repo = record.get("repo", "")
    job_url = _https_url(record.get("html_url", ""))
    status = record.get("status", "")
    created_at = epoch(record.get("created_at", ""))
    started_at = epoch(record.get("started_at", ""))
    completed_at = epoch(record.get("completed_at", ""))
    return JobRow(
        job_id=record.get("job_id", ""),
        status=status,
        conclusion=record.get("conclusion", ""),
        entity_id=record.get("entity_id", ""),
        entity_type=record.get("entity_type", ""),
        account=record.get("entity_name", ""),
        pool=record.get("k8s_pool", ""),
        labels=_labels(record.get("labels", "")),
        private=private,
        masked=masked,
        repo=None if masked else repo,
        repo_url=None if masked or not repo else _repo_url(repo, job_url),
        job_name=None if masked else record.get("job_name", ""),
        workflow_name=None if masked else record.get("workflow_name", ""),
        job_url=None if masked else job_url,
        run_id=record.get("run_id", ""),
        run_attempt=record.get("run_attempt", ""),
        runner_name=record.get("runner_name", ""),
        created_at=created_at,
        started_at=started_at,
        completed_at=completed_at,
        wait_seconds=wait_seconds(status, created_at, started_at, now),
        run_seconds=run_seconds(status, started_at, completed_at, now),
    )


def wait_seconds(
    status: str, created_at: float | None, started_at: float | None, now: float
) -> float | None:
    """Queued → started; for a pending job, how long it has waited so far."""
    return _elapsed(created_at, started_at, now if status == "pending" else None)


def run_seconds(
    status: str, started_at: float | None, completed_at: float | None, now: float
) -> float | None:
    """Started → completed; for a running job, how long it has run so far."""
    return _elapsed(started_at, completed_at, now if status == "running" else None)


def _elapsed(since: float | None, until: float | None, so_far: float | None) -> float | None:
    """From `since` to `until`, or to `so_far` while `until` has not come; None when either end
    is unknown."""
    end = until if until is not None else so_far
    return None if since is None or end is None else max(0.0, end - since)


def epoch(value: str) -> float | None:
    """Epoch seconds as the job hash stores them ('' when unknown)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def iso_utc(seconds: float | None) -> str | None:
    """`2025-01-31T12:34:56Z`, or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rounded(seconds: float | None) -> float | None:
    """Seconds to a tenth, as every report page's JSON gives a duration; None stays None."""
    return None if seconds is None else round(seconds, 1)


def _labels(raw: str) -> tuple[str, ...]:
    try:
        labels = json.loads(raw) if raw else []
    except ValueError:
        return ()
    return tuple(str(label) for label in labels) if isinstance(labels, list) else ()


def _https_url(url: str) -> str | None:
    parts = urlsplit(url)
    return url if parts.scheme == "https" and parts.netloc else None


def _repo_url(repo: str, job_url: str | None) -> str:
    # GitHub Enterprise Server jobs link to their own host; the repository lives beside them.
    origin = GITHUB
    if job_url:
        parts = urlsplit(job_url)
        origin = f"{parts.scheme}://{parts.netloc}"
    return f"{origin}/{quote(repo, safe='/')}"
