"""Converging with GitHub when deliveries were lost: redelivery of failed deliveries, and a
check of jobs that had no news for too long. Both spend a bounded share of each installation's
rate limit (`Budget`), so the runners' own calls are never refused for their sake.

GitHub never retries a failed delivery by itself. The leader lists the App's recent deliveries,
and asks GitHub to send again those whose every attempt failed; RunnerHub remembers what it
asked for, so one delivery is not redelivered in a loop. A job pending or running without news
is looked up; what GitHub says is applied through the same forward-only script as a delivery,
so a late delivery and a reconciliation can never move a job back.
"""
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

from runners import store
from runners.decision import Job
from runners.github import GitHubError, GitHubRunners, HookDelivery, RateLimited
from webhooks import lifecycle
from webhooks.events import Status

log = logging.getLogger(__name__)

APP = "app"  # the budget of the App's own JWT calls (deliveries)
# At most this many redeliveries are asked for one delivery, however often it fails.
MAX_REDELIVERIES = 3
PAGES_PER_RUN = 30
# Lookups per reconciliation round, so that a backlog cannot hold up a pass for minutes.
MAX_LOOKUPS_PER_ROUND = 50
# GitHub's statuses of a job, as RunnerHub's.
GITHUB_STATUS = {
    "queued": "pending", "waiting": "pending", "pending": "pending", "requested": "pending",
    "in_progress": "running", "completed": "completed",
}  # fmt: skip
# A status's place in the order a job only moves forward in.
RANK = {status: place for place, status in enumerate(Status, 1)}


class Budget:
    """Reconciliation's share of each installation's hourly limit, from the rate-limit headers
    GitHub sent last (every replica records them, `store.record_rate_limit`).

    A call is allowed while reconciliation spent less than RECONCILE_BUDGET_PERCENT of the
    limit in the current window, and while more than that share is left: the last share always
    stays for the runners. An installation never heard from yet may make one call to learn its
    limit.
    """

    def __init__(self, paused: dict[int, float]) -> None:
        self.paused = paused  # the scheduler's: installation to when its limit resets

    def allows(self, installation: str) -> bool:
        if self._paused(installation):
            return False
        figures = store.read_rate_limits().get(installation)
        if figures is None:
            return True
        limit, remaining, reset = figures["limit"], figures["remaining"], figures["reset"]
        if reset and reset < time.time():
            return True  # a new window: its figures come with the next answer
        share = max(1, limit * settings.RECONCILE_BUDGET_PERCENT // 100)
        return store.spent(installation, reset) < share and remaining > share

    def spend(self, installation: str) -> None:
        figures = store.read_rate_limits().get(installation) or {}
        store.spend(installation, int(figures.get("reset", 0)))

    def _paused(self, installation: str) -> bool:
        key = 0 if installation == APP else int(installation)
        return self.paused.get(key, 0) > time.time()


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)  # job ids looked up
    applied: dict[str, str] = field(default_factory=dict)  # job id to the status applied
    redelivered: list[str] = field(default_factory=list)  # delivery guids
    over_budget: int = 0  # calls not made for the budget


def reconcile_jobs(
    github: GitHubRunners, jobs: Iterable[Job], budget: Budget, now: float, report: Report
) -> None:
    """Look up the jobs without news for too long, oldest first, within the budget, and apply
    what GitHub says."""
    due = sorted(
        (job for job in jobs if _due(job, now)), key=lambda job: (job.last_news, job.job_id)
    )
    unanswered: set[str] = set()
    for job in due:
        installation = job.installation_id
        if not installation.isdigit() or installation in unanswered:
            continue  # only a job recorded from an App delivery can be looked up
        if len(report.checked) >= MAX_LOOKUPS_PER_ROUND:
            report.over_budget += 1
            continue
        if not budget.allows(installation):
            report.over_budget += 1
            continue
        try:
            state = github.job(int(installation), job.repo, int(job.job_id))
        except RateLimited as exc:
            budget.paused[int(installation)] = exc.until
            continue
        except GitHubError as exc:
            log.warning("reconcile.lookup_failed job_id=%s error=%s", job.job_id, exc)
            if exc.status == 0 or exc.status >= 500:
                unanswered.add(installation)  # not again this round: the pass has runners to start
            continue
        finally:
            # Counted in the window GitHub's answer names (the first answer teaches it).
            budget.spend(installation)
        report.checked.append(job.job_id)
        status, conclusion, runner = (
            (GITHUB_STATUS.get(state.status, job.status), state.conclusion, state.runner_name)
            if state is not None
            else ("completed", "unknown", "")  # GitHub no longer knows it
        )
        if RANK.get(status, 0) > RANK[job.status]:
            outcome = lifecycle.reconcile_job(job.job_id, status, conclusion, runner)
            report.applied[job.job_id] = status
            log.info(
                "reconcile.applied job_id=%s from=%s to=%s outcome=%s",
                job.job_id, job.status, status, outcome,
            )  # fmt: skip
        else:
            store.mark_checked(job.job_id)
    store.count({"reconcile_checked": len(report.checked), "reconcile_applied": len(report.applied)})


def _due(job: Job, now: float) -> bool:
    after = (
        settings.RECONCILE_PENDING_AFTER if job.status == "pending" else settings.RECONCILE_RUNNING_AFTER
    )
    return now - job.last_news > after


def redeliver_failed(github: GitHubRunners, budget: Budget, now: float, report: Report) -> None:
    """Ask GitHub to redeliver the App's deliveries of the last REDELIVERY_WINDOW_HOURS that
    failed, at most REDELIVERY_MAX_PER_RUN a run and MAX_REDELIVERIES each.

    Only failed attempts are listed (`status=failure`), so a busy App's thousands of good
    deliveries cost no pages. A delivery is asked for again only when an attempt newer than
    the one last redelivered failed too: one whose redelivery succeeded lists no newer failure.
    (One that a maintainer redelivered by hand may be sent once more; deliveries are
    idempotent.)
    """
    since = now - settings.REDELIVERY_WINDOW_HOURS * 3600
    latest: dict[str, HookDelivery] = {}
    cursor = ""
    for _ in range(PAGES_PER_RUN):
        if not budget.allows(APP):
            report.over_budget += 1
            return
        try:
            page, cursor = github.failed_deliveries(cursor)
        except RateLimited as exc:
            budget.paused[0] = exc.until
            return
        except GitHubError as exc:
            log.warning("redelivery.list_failed error=%s", exc)
            return
        finally:
            budget.spend(APP)
        for attempt in page:
            if attempt.delivered_at >= since and not attempt.succeeded:
                known = latest.get(attempt.guid)
                if known is None or attempt.delivered_at > known.delivered_at:
                    latest[attempt.guid] = attempt
        if not cursor or not page or page[-1].delivered_at < since:
            break
    asked = store.read_redelivered()
    for failed in sorted(latest.values(), key=lambda attempt: attempt.delivered_at):
        if len(report.redelivered) >= settings.REDELIVERY_MAX_PER_RUN:
            break
        before = asked.get(failed.guid, {"count": 0, "attempt": 0})
        if before["count"] >= MAX_REDELIVERIES or before["attempt"] >= failed.delivery_id:
            continue  # redelivered since this attempt failed: its answer is the newer attempt
        if not budget.allows(APP):
            report.over_budget += 1
            break
        try:
            github.redeliver(failed.delivery_id)
        except RateLimited as exc:
            budget.paused[0] = exc.until
            break
        except GitHubError as exc:
            log.warning("redelivery.failed guid=%s error=%s", failed.guid, exc)
            continue
        finally:
            budget.spend(APP)
        store.remember_redelivery(failed.guid, before["count"] + 1, failed.delivery_id)
        lifecycle.record_redelivery(failed.guid, failed.event, failed.action, failed.status_code)
        report.redelivered.append(failed.guid)
        log.info("redelivery.asked guid=%s event=%s status=%s", failed.guid, failed.event, failed.status_code)
    store.count({"redeliveries": len(report.redelivered)} if report.redelivered else {})

