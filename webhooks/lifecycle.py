"""The job lifecycle: what a verified delivery does to RunnerHub's state.

`pending` -> `running` -> `completed`, only ever forward. GitHub delivers at least once and in
any order, so every transition is idempotent and an event for an unknown job creates it at that
event's status.
"""
import json
import logging
import uuid
from collections.abc import Callable
import dataclasses
from dataclasses import dataclass
from typing import Any

from webhooks import config, proxy, store
from webhooks.events import (
    ACTION_STATUS,
    PayloadError,
    Status,
    WorkflowJobEvent,
    action_of,
    job_id_of,
    owner_id_of,
    parse_workflow_job,
)
from webhooks.outcomes import UNVERIFIED, Delivery, Outcome, Reason, Result, quoted

log = logging.getLogger(__name__)

# A reload per attempt; only a config edited three times within one delivery exhausts this.
STALE_CONFIG_ATTEMPTS = 3


@dataclass(frozen=True)
class Forward:
    """The decision that a delivery is staging's: the caller sends it there as it came, then
    hands staging's answer to `forwarded`."""

    delivery: Delivery


Payload = WorkflowJobEvent | dict[str, Any]


def handle_delivery(delivery: Delivery, payload: Payload, hopped: bool = False) -> Result | Forward:
    """Apply one verified, decoded delivery, or decide that it is staging's.

    `payload` is the typed event of a well-formed `workflow_job` delivery
    (events.decode_workflow_job), or the decoded JSON object of any other. `hopped`: a RunnerHub
    deployment forwarded the delivery here, so it is never forwarded again.

    Returns what happened (a rejection when the payload is wrong), or Forward. Raises
    store.StoreUnavailable when the delivery could not be recorded: it must then be failed so
    that GitHub shows it and it can be redelivered.
    """
    handler = HANDLERS.get(delivery.event, _ignore_event)
    try:
        return handler(delivery, payload, hopped)
    except PayloadError as exc:
        return reject(delivery, Reason.BAD_PAYLOAD, f"bad payload: {exc}")


def forwarded(forward: Forward, result: Result) -> Result:
    """Log and record what staging (or its absence) answered a forwarded delivery. No job is
    recorded here, it is staging's delivery; the delivery log and the counters say it was
    forwarded and how it went, so that /metrics can alert on failed forwards."""
    _log(forward.delivery, result)
    try:
        store.record_delivery(forward.delivery, result, result.http_status)
    except store.StoreUnavailable:
        log.warning("webhook.unlogged delivery=%s", quoted(forward.delivery.delivery_id))
    return result


def reject(delivery: Delivery, reason: Reason, detail: str = "") -> Result:
    """Log and count a delivery that is refused with a 4xx.

    One refused before its signature was verified (UNVERIFIED) is only counted: its headers
    are anyone's words, and must neither reach the public delivery log, where a flood of them
    would push out every real entry, nor the process log.
    """
    result = Result(Outcome.REJECTED, reason, detail=detail)
    if reason not in UNVERIFIED:
        return _conclude(delivery, result)
    log.debug("webhook.refused reason=%s status=%s", reason, result.http_status)
    try:
        store.count_delivery(result)
    except store.StoreUnavailable:
        pass  # logged by the store; the client is answered all the same
    return result


def _workflow_job(delivery: Delivery, payload: Payload, hopped: bool) -> Result | Forward:
    if isinstance(payload, WorkflowJobEvent):
        owner_id, job_id = payload.owner_id, payload.job_id
    else:
        owner_id, job_id = owner_id_of(payload), job_id_of(payload)
    for _ in range(STALE_CONFIG_ATTEMPTS):
        snapshot = config.current()
        try:
            # Forwarding skips the script that would catch a stale cache, so the version is
            # checked first; and a job this deployment recorded before its account moved to
            # staging finishes here, so that its demand does not stay behind.
            if proxy.should_forward(snapshot, owner_id, hopped) and not store.knows_job(
                snapshot.version, job_id
            ):
                return Forward(dataclasses.replace(delivery, job_id=job_id))
            return _record(delivery, payload, snapshot)
        except store.StaleConfig:
            config.reload()
    log.error("webhook.config_unsettled delivery=%s", quoted(delivery.delivery_id))
    raise store.StoreUnavailable("label mappings or accounts kept changing")


def _record(delivery: Delivery, payload: Payload, snapshot: config.Snapshot) -> Result:
    """Apply a `workflow_job` delivery in this deployment. Raises StaleConfig when `snapshot`
    is older than the config in Redis; nothing is written then."""
    if isinstance(payload, WorkflowJobEvent):
        event = payload
    else:
        action = action_of(payload)
        if action not in ACTION_STATUS:
            return _conclude(delivery, Result(Outcome.IGNORED, Reason.ACTION))
        event = parse_workflow_job(payload)
        delivery = dataclasses.replace(delivery, job_id=event.job_id)
    if event.owner_id in snapshot.blocked:
        # Decided in the script with the version check, so a block lifted in the admin holds
        # from the next delivery on; a job recorded before the block still moves forward.
        match, unmatched = None, Reason.BLOCKED_ACCOUNT
    else:
        match = snapshot.match(event.labels, event.owner_id, event.repo_name)
        unmatched = Reason.NO_LABEL_MATCH
    result = store.apply_job_event(event, match, snapshot.version, delivery, unmatched)
    _log(delivery, result)
    return result


def _ping(delivery: Delivery, payload: Payload, hopped: bool) -> Result:
    return _conclude(delivery, Result(Outcome.PONG))


def _ignore_event(delivery: Delivery, payload: Payload, hopped: bool) -> Result:
    return _conclude(delivery, Result(Outcome.IGNORED, Reason.EVENT))


HANDLERS: dict[str, Callable[[Delivery, Payload, bool], Result | Forward]] = {
    "workflow_job": _workflow_job,
    "ping": _ping,
}


def _conclude(delivery: Delivery, result: Result) -> Result:
    """Log and count a delivery that touched no job.

    Nothing needs to be durable for it, so a Redis failure here is logged, not raised: the
    delivery is still answered as it deserves.
    """
    result = Result(result.outcome, result.reason, job_id=delivery.job_id, detail=result.detail)
    _log(delivery, result)
    try:
        store.record_delivery(delivery, result, result.http_status)
    except store.StoreUnavailable:
        log.warning("webhook.unlogged delivery=%s", quoted(delivery.delivery_id))
    return result


# Every delivery is in the `{env}:deliveries` stream already; the process log keeps what an
# operator must see (rejections, forwarding) at INFO and above, routine deliveries at DEBUG.
_LOG_LEVELS = {Outcome.REJECTED: logging.WARNING, Outcome.FORWARDED: logging.INFO}


def _log(delivery: Delivery, result: Result) -> None:
    level = _LOG_LEVELS.get(result.outcome, logging.DEBUG)
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "webhook.delivery delivery=%s event=%s action=%s job_id=%s outcome=%s reason=%s "
        "status=%s previous=%s pool=%s",
        quoted(delivery.delivery_id),
        quoted(delivery.event),
        quoted(delivery.action),
        delivery.job_id,
        result.outcome,
        result.reason or "-",
        result.status or "-",
        result.previous or "-",
        result.pool or "-",
    )


# The action a delivery of a status would have carried.
STATUS_ACTION = {status: action for action, status in ACTION_STATUS.items()}


def reconcile_job(job_id: str, status: str, conclusion: str, runner_name: str) -> Outcome:
    """Apply what GitHub's own record says of a known job whose deliveries were lost.

    The same forward-only script as a delivery applies it, so a late delivery and a
    reconciliation can never move the job back; the events stream and the delivery log record
    it as `reconciled` (the log's event is `reconcile`). A job whose hash expired meanwhile is
    left alone (`ignored: unknown_job`). Raises store.StoreUnavailable when Redis fails.
    """
    [fields] = store.read_jobs([job_id])
    if fields is None:
        return Outcome.IGNORED
    event = _event_of(job_id, fields, Status(status), conclusion, runner_name)
    delivery = Delivery(f"reconcile-{uuid.uuid4()}", "reconcile", event.action, event.job_id)
    version = store.config_version()
    for _ in range(STALE_CONFIG_ATTEMPTS):
        try:
            result = store.apply_job_event(
                event, None, version, delivery, Reason.UNKNOWN_JOB, reconciled=True
            )
        except store.StaleConfig as stale:
            version = str(stale)
            continue
        _log(delivery, result)
        return result.outcome
    raise store.StoreUnavailable("label mappings or accounts kept changing")


def record_redelivery(guid: str, event: str, action: str, status_code: int) -> None:
    """Put in the delivery log that the scheduler asked GitHub to redeliver a delivery whose
    attempts all failed (`status_code`: the last attempt's answer)."""
    delivery = Delivery(guid, event, action)
    result = Result(Outcome.REDELIVERY)
    _log(delivery, result)
    store.record_delivery(delivery, result, status_code)


def _event_of(
    job_id: str, fields: dict[str, str], status: Status, conclusion: str, runner_name: str
) -> WorkflowJobEvent:
    """A job's record as the event a delivery of `status` would have been."""
    organization = fields.get("entity_type") == "organization"
    repo = fields.get("repo", "")
    try:
        labels = tuple(str(label) for label in json.loads(fields.get("labels") or "[]"))
    except ValueError:
        labels = ()
    return WorkflowJobEvent(
        action=STATUS_ACTION[status],
        status=status,
        job_id=int(job_id),
        run_id=_int(fields.get("run_id")),
        run_attempt=_int(fields.get("run_attempt")) or 1,
        job_name=fields.get("job_name", ""),
        workflow_name=fields.get("workflow_name", ""),
        html_url=fields.get("html_url", ""),
        labels=labels,
        runner_name=runner_name,
        conclusion=conclusion if status == Status.COMPLETED else "",
        repo_id=0 if organization else _int(fields.get("entity_id")),
        repo_name=repo.partition("/")[2],
        repo_full_name=repo,
        private=fields.get("private") == "1",
        owner_id=_int(fields.get("owner_id") or fields.get("entity_id")),
        owner_login=fields.get("entity_name", ""),
        owner_type="Organization" if organization else "User",
        installation_id=_int(fields.get("installation_id")) or None,
    )


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0
