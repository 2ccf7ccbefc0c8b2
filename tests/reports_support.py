"""Helpers for the report page tests: a clock for the job store, and jobs moved through their
lifecycle by real signed deliveries."""
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.factories import WorkflowJobPayloadFactory, same_job
from webhooks import store
from webhooks.keys import Keys

KEYS = Keys("prod")


class Clock:
    """The time the webhook's script records; set it to put a delivery in the past."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.time()
        monkeypatch.setattr(store, "now", lambda: f"{self.now:.3f}")


def run_job(
    deliver: Callable[..., Any],
    clock: Clock,
    queued_at: float,
    waited: float | None = None,
    ran: float | None = None,
    conclusion: str = "success",
    **payload: Any,
) -> dict[str, Any]:
    """Queue a job at `queued_at`; start it `waited` seconds later; complete it `ran` seconds
    after that. Every delivery must be answered 200. Returns the queued payload."""
    queued = WorkflowJobPayloadFactory(**payload)
    clock.now = queued_at
    assert deliver(queued).status_code == 200
    if waited is not None:
        clock.now = queued_at + waited
        runner = f"runner-{queued['workflow_job']['id']}"
        assert deliver(same_job(queued, "in_progress", runner_name=runner)).status_code == 200
        if ran is not None:
            clock.now = queued_at + waited + ran
            finished = same_job(queued, "completed", conclusion=conclusion, runner_name=runner)
            assert deliver(finished).status_code == 200
    clock.now = time.time()
    return queued


def job_id(payload: dict[str, Any]) -> str:
    return str(payload["workflow_job"]["id"])
