"""What happened to a delivery: the words of the delivery log, the counters and the responses."""
import enum
import json
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    STORED = "stored"  # a job RunnerHub had not seen, recorded
    UPDATED = "updated"  # a known job moved forward
    RECONCILED = "reconciled"  # a known job moved forward on GitHub's own record of it
    REDELIVERY = "redelivery"  # the scheduler asked GitHub to send a failed delivery again
    DUPLICATE = "duplicate"  # nothing to change: a repeat, or a late event
    IGNORED = "ignored"  # acknowledged and deliberately not recorded
    PONG = "pong"
    FORWARDED = "forwarded"  # handed to the staging deployment
    REJECTED = "rejected"  # a 4xx: the delivery is wrong


class Reason(enum.StrEnum):
    NONE = ""
    REPEAT = "repeat"
    OUT_OF_ORDER = "out_of_order"
    NO_LABEL_MATCH = "no_label_match"
    EVENT = "event"
    ACTION = "action"
    BLOCKED_ACCOUNT = "blocked_account"
    UNKNOWN_JOB = "unknown_job"  # reconciliation found the job gone here
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    MISSING_EVENT = "missing_event"
    BAD_PAYLOAD = "bad_payload"
    TOO_LARGE = "too_large"
    STAGING_REFUSED = "staging_refused"
    STAGING_TIMEOUT = "staging_timeout"
    STAGING_ERROR = "staging_error"
    STAGING_BUSY = "staging_busy"  # as many forwards in flight as this process allows
    STAGING_CIRCUIT_OPEN = "staging_circuit_open"  # staging kept failing: not tried for a while
    BAD_HOST = "bad_host"
    SLOW_BODY = "slow_body"
    BROKEN_BODY = "broken_body"


# Every word the delivery log and the counters may hold: the reports show or export only these.
OUTCOMES = frozenset(outcome.value for outcome in Outcome)
REASONS = frozenset(reason.value for reason in Reason)

# Refused before the signature was checked: nothing in them is GitHub's word, so they are
# counted but never written to the delivery log by their headers.
UNVERIFIED = frozenset(
    {
        Reason.MISSING_SIGNATURE,
        Reason.BAD_SIGNATURE,
        Reason.TOO_LARGE,
        Reason.BAD_HOST,
        Reason.SLOW_BODY,
        Reason.BROKEN_BODY,
    }
)


# The fields of a delivery log entry, in order: store.record_delivery writes them, and the
# delivery script (webhooks/scripts/apply_job_event.lua) is given them, one argument each.
DELIVERY_LOG_FIELDS = ("delivery", "event", "action", "job_id", "outcome", "reason", "http_status", "at")


def counter_name(outcome: Outcome, reason: Reason = Reason.NONE) -> str:
    """The name a delivery's outcome and reason are counted under in `{env}:stats`."""
    return f"{outcome}:{reason}" if reason else str(outcome)


def quoted(value: object) -> str:
    """A value for a `key=value` log line, double-quoted with every control character,
    quote and non-ASCII character escaped: header text cannot forge another field or line."""
    return json.dumps(str(value))


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the log records it."""

    delivery_id: str
    event: str
    action: str = ""
    job_id: int | None = None


@dataclass(frozen=True)
class Reply:
    """The response to send back as it is: staging's answer to a forwarded delivery, or the
    gateway error that stands in for it."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Result:
    """What handling a delivery did, for the response, the log line and the delivery log."""

    outcome: Outcome
    reason: Reason = Reason.NONE
    status: str = ""  # the job's status afterwards, when a job was touched
    previous: str = ""
    pool: str = ""
    job_id: int | None = None
    detail: str = ""  # for rejections: what exactly is wrong, safe to send back
    reply: Reply | None = None  # for forwarded deliveries: what staging answered

    @property
    def counter(self) -> str:
        return counter_name(self.outcome, self.reason)

    @property
    def http_status(self) -> int:
        if self.reply is not None:
            return self.reply.status
        return REJECTION_STATUS.get(self.reason, 400) if self.outcome == Outcome.REJECTED else 200

    def message(self) -> str:
        """The short response body GitHub shows for the delivery."""
        job = f"job {self.job_id}"
        match self.outcome:
            case Outcome.STORED:
                return f"stored: {job} {self.status} in pool {self.pool}"
            case Outcome.UPDATED | Outcome.RECONCILED:
                return f"{self.outcome}: {job} {self.previous} -> {self.status}"
            case Outcome.DUPLICATE:
                return f"duplicate: {job} is already {self.previous}"
            case Outcome.PONG:
                return "pong"
            case Outcome.IGNORED:
                return f"ignored: {IGNORED_WHY[self.reason]}"
            case _:
                return self.detail or str(self.reason).replace("_", " ")


REJECTION_STATUS = {
    Reason.MISSING_SIGNATURE: 401,
    Reason.BAD_SIGNATURE: 401,
    Reason.TOO_LARGE: 413,
    Reason.SLOW_BODY: 408,
}

IGNORED_WHY = {
    Reason.NO_LABEL_MATCH: "no label mapping matches this job",
    Reason.EVENT: "not a workflow_job event",
    Reason.ACTION: "not a queued, in_progress or completed action",
    Reason.BLOCKED_ACCOUNT: "the account is blocked",
    Reason.UNKNOWN_JOB: "the job is not recorded here (it expired)",
}

# Why a delivery ended as it did, in the words a maintainer asking "why no runner?" needs.
WHY = {
    **IGNORED_WHY,
    Reason.REPEAT: "already recorded at this status",
    Reason.OUT_OF_ORDER: "a later status was already recorded",
    Reason.MISSING_SIGNATURE: "no X-Hub-Signature-256 header",
    Reason.BAD_SIGNATURE: "signature does not match any webhook secret",
    Reason.MISSING_EVENT: "no X-GitHub-Event header",
    Reason.BAD_PAYLOAD: "payload could not be understood",
    Reason.TOO_LARGE: "body over the size limit",
    Reason.STAGING_REFUSED: "staging refused the connection",
    Reason.STAGING_TIMEOUT: "staging did not answer in time",
    Reason.STAGING_ERROR: "staging could not be reached",
    Reason.STAGING_BUSY: "too many deliveries on their way to staging",
    Reason.STAGING_CIRCUIT_OPEN: "staging kept failing, so it was not tried",
}
