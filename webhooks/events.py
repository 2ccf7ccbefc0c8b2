"""GitHub payloads turned into one typed event, or a clear error naming the bad field."""
import enum
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec

MAX_ID = 2**63 - 1  # GitHub ids are 64-bit; Redis and PostgreSQL bigint hold them.
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# A job's `runs-on` list is a handful of labels; these bound what matching a delivery may cost.
MAX_LABELS = 100
MAX_LABEL_LENGTH = 255
# JSON can spell half a surrogate pair (\ud800), which no UTF-8 text holds: Redis, the log and
# the report pages would fail on it later. GitHub's payloads seldom escape anything, so only a
# body that spells a surrogate at all is searched for a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# msgspec decodes in one C pass, three times faster than json, and refuses what is not UTF-8
# text (lone surrogates included). What it refuses is decoded again by json, whose answer
# (and its error, named below) is the contract: NaN, say, is JSON to json and not to msgspec.
_fast_decode = msgspec.json.Decoder().decode


class PayloadError(ValueError):
    """The delivery cannot be understood; the message is safe to send back to GitHub."""


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"


# The `workflow_job` actions RunnerHub acts on; every other action is acknowledged and ignored.
ACTION_STATUS = {
    "queued": Status.PENDING,
    "in_progress": Status.RUNNING,
    "completed": Status.COMPLETED,
}


@dataclass(frozen=True)
class WorkflowJobEvent:
    action: str
    status: Status
    job_id: int
    run_id: int
    run_attempt: int
    job_name: str
    workflow_name: str
    html_url: str
    labels: tuple[str, ...]
    runner_name: str
    conclusion: str
    repo_id: int
    repo_name: str
    repo_full_name: str
    private: bool
    owner_id: int
    owner_login: str
    owner_type: str
    installation_id: int | None

    @property
    def entity_id(self) -> int:
        """Organizations share runners across repositories; personal accounts get per-repo ones."""
        return self.owner_id if self.owner_type == "Organization" else self.repo_id

    @property
    def entity_type(self) -> str:
        return "organization" if self.owner_type == "Organization" else "repository"


def is_form(content_type: str) -> bool:
    """Whether a delivery's body is a form whose `payload` field holds the JSON (GitHub's
    `application/x-www-form-urlencoded` content type); any other body is read as JSON."""
    return content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def decode_body(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object of a delivery: the body itself, or the `payload` field of a form."""
    form = is_form(content_type)
    if not form:
        try:
            payload = _fast_decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            pass  # decoded again below, for the error that names what is wrong
        else:
            if isinstance(payload, dict):
                return payload
    if form:
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=100)
        except (UnicodeDecodeError, ValueError):
            raise PayloadError("form body is not valid") from None
        values = fields.get("payload")
        if not values:
            raise PayloadError("form body has no payload field")
        text = values[0]
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and not _is_unicode(payload):
        raise PayloadError("body holds a lone surrogate, which is not text")
    return payload


def _is_unicode(document: object) -> bool:
    """Whether every string in a decoded JSON document, keys included, can be written as UTF-8.
    A loop, not recursion: the document may be nested as deep as the parser allowed."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


# The fields of a `workflow_job` payload that RunnerHub reads, as msgspec decodes them in one C
# pass that skips every other field: the same types and bounds as parse_workflow_job checks.
_Id = Annotated[int, msgspec.Meta(gt=0, le=MAX_ID)]
_Label = Annotated[str, msgspec.Meta(max_length=MAX_LABEL_LENGTH)]
_Labels = Annotated[list[_Label], msgspec.Meta(max_length=MAX_LABELS)]


class _Owner(msgspec.Struct):
    id: _Id
    login: str
    type: str


class _Repository(msgspec.Struct):
    id: _Id
    name: str
    full_name: str
    owner: _Owner
    private: bool | None = False


class _Job(msgspec.Struct):
    id: _Id
    run_id: _Id
    run_attempt: _Id | None = None
    name: str | None = None
    workflow_name: str | None = None
    html_url: str | None = None
    labels: _Labels | None = None
    runner_name: str | None = None
    conclusion: str | None = None


class _Installation(msgspec.Struct):
    id: _Id


class _WorkflowJobPayload(msgspec.Struct):
    action: str
    workflow_job: _Job
    repository: _Repository
    installation: _Installation | None = None


_typed_decode = msgspec.json.Decoder(_WorkflowJobPayload).decode


def decode_workflow_job(body: bytes) -> WorkflowJobEvent | None:
    """The event of a JSON `workflow_job` body in one pass, when it is well formed and its
    action is one RunnerHub acts on; None otherwise.

    None is not a refusal: the caller then decodes the body with decode_body and
    parse_workflow_job, whose answers (an ignored action, an error that names the field, the
    leniency of a non-object `installation`) are the contract. Whatever this accepts, they
    accept as the same event, with one exception: a number of more digits than Python converts
    (4,300) in a field RunnerHub does not read, which json refuses, is skipped here.
    """
    # Fields it does not read are skipped, and skipped text is not checked for UTF-8; an
    # ASCII body, as GitHub sends them, needs no check.
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        payload = _typed_decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    status = ACTION_STATUS.get(payload.action)
    if status is None:
        return None
    job, repo = payload.workflow_job, payload.repository
    owner = repo.owner
    return WorkflowJobEvent(
        action=payload.action,
        status=status,
        job_id=job.id,
        run_id=job.run_id,
        run_attempt=job.run_attempt or 1,
        job_name=job.name or "",
        workflow_name=job.workflow_name or "",
        html_url=job.html_url or "",
        labels=tuple(job.labels or ()),
        runner_name=job.runner_name or "",
        conclusion=job.conclusion or "",
        repo_id=repo.id,
        repo_name=repo.name,
        repo_full_name=repo.full_name,
        private=bool(repo.private),
        owner_id=owner.id,
        owner_login=owner.login,
        owner_type=owner.type,
        installation_id=payload.installation.id if payload.installation else None,
    )


def action_of(payload: dict[str, Any]) -> str:
    action = payload.get("action")
    if not isinstance(action, str):
        raise PayloadError("action: missing or not a string")
    return action


def owner_id_of(payload: dict[str, Any]) -> int | None:
    """`repository.owner.id`, or None when it is missing or not an id (the full parse then
    names the problem)."""
    repo = payload.get("repository")
    return _lenient_id(repo.get("owner") if isinstance(repo, dict) else None)


def job_id_of(payload: dict[str, Any]) -> int | None:
    """`workflow_job.id`, or None when it is missing or not an id."""
    return _lenient_id(payload.get("workflow_job"))


def _lenient_id(parent: object) -> int | None:
    value = parent.get("id") if isinstance(parent, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value


def parse_workflow_job(payload: dict[str, Any]) -> WorkflowJobEvent:
    """A `workflow_job` payload whose action is one of ACTION_STATUS, as an event."""
    action = action_of(payload)
    job = _object(payload, "workflow_job")
    repo = _object(payload, "repository")
    owner = _object(repo, "owner", "repository.owner")
    installation = payload.get("installation")
    labels = job.get("labels")
    if labels is None:
        labels = []
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise PayloadError("workflow_job.labels: must be a list of strings")
    if len(labels) > MAX_LABELS:
        raise PayloadError(f"workflow_job.labels: at most {MAX_LABELS} labels")
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise PayloadError(f"workflow_job.labels: a label is longer than {MAX_LABEL_LENGTH} characters")
    return WorkflowJobEvent(
        action=action,
        status=ACTION_STATUS[action],
        job_id=_id(job, "id", "workflow_job.id"),
        run_id=_id(job, "run_id", "workflow_job.run_id"),
        run_attempt=_id(job, "run_attempt", "workflow_job.run_attempt", default=1),
        job_name=_text(job, "name", "workflow_job.name"),
        workflow_name=_text(job, "workflow_name", "workflow_job.workflow_name"),
        html_url=_text(job, "html_url", "workflow_job.html_url"),
        labels=tuple(labels),
        runner_name=_text(job, "runner_name", "workflow_job.runner_name"),
        conclusion=_text(job, "conclusion", "workflow_job.conclusion"),
        repo_id=_id(repo, "id", "repository.id"),
        repo_name=_text(repo, "name", "repository.name", required=True),
        repo_full_name=_text(repo, "full_name", "repository.full_name", required=True),
        private=_flag(repo, "private", "repository.private"),
        owner_id=_id(owner, "id", "repository.owner.id"),
        owner_login=_text(owner, "login", "repository.owner.login", required=True),
        owner_type=_text(owner, "type", "repository.owner.type", required=True),
        installation_id=(
            _id(installation, "id", "installation.id") if isinstance(installation, dict) else None
        ),
    )


def _object(parent: dict[str, Any], key: str, name: str | None = None) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{name or key}: missing or not an object")
    return value


def _id(parent: dict[str, Any], key: str, name: str, default: int | None = None) -> int:
    value = parent.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{name}: missing or not an integer")
    if not 0 < value <= MAX_ID:
        raise PayloadError(f"{name}: out of range for a 64-bit id")
    return value


def _text(parent: dict[str, Any], key: str, name: str, required: bool = False) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{name}: missing or not a string")
    return value


def _flag(parent: dict[str, Any], key: str, name: str) -> bool:
    value = parent.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PayloadError(f"{name}: not a boolean")
    return value
