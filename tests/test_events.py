import json
from urllib.parse import urlencode

import pytest

from harness.factories import WorkflowJobPayloadFactory
from webhooks.events import (
    MAX_ID,
    PayloadError,
    Status,
    decode_body,
    parse_workflow_job,
)


def test_it_parses_a_queued_job() -> None:
    payload = WorkflowJobPayloadFactory(
        workflow_job__id=14541957942,
        workflow_job__labels=["Ubuntu-24.04-RISCV"],
        repository__owner__id=38302899,
        repository__owner__login="riseproject-dev",
        installation__id=3456996,
    )
    event = parse_workflow_job(payload)
    assert event.status == Status.PENDING
    assert event.job_id == 14541957942
    assert event.labels == ("Ubuntu-24.04-RISCV",)
    assert event.owner_login == "riseproject-dev"
    assert event.installation_id == 3456996
    assert event.entity_id == 38302899
    assert event.entity_type == "organization"


def test_a_personal_account_is_keyed_by_the_repository() -> None:
    payload = WorkflowJobPayloadFactory(repository__owner__type="User", repository__id=445650657)
    event = parse_workflow_job(payload)
    assert event.entity_id == 445650657
    assert event.entity_type == "repository"


@pytest.mark.parametrize("labels", [None, []])
def test_null_or_empty_labels_are_no_labels(labels: list[str] | None) -> None:
    assert parse_workflow_job(WorkflowJobPayloadFactory(workflow_job__labels=labels)).labels == ()


def test_missing_labels_are_no_labels() -> None:
    payload = WorkflowJobPayloadFactory()
    del payload["workflow_job"]["labels"]
    assert parse_workflow_job(payload).labels == ()


def test_optional_fields_of_older_payloads_take_defaults() -> None:
    payload = WorkflowJobPayloadFactory()
    for key in ("run_attempt", "workflow_name", "runner_name", "conclusion", "html_url"):
        del payload["workflow_job"][key]
    del payload["installation"]
    event = parse_workflow_job(payload)
    assert (event.run_attempt, event.workflow_name, event.installation_id) == (1, "", None)


def test_64_bit_ids_are_kept_exactly() -> None:
    payload = WorkflowJobPayloadFactory(workflow_job__id=MAX_ID)
    assert parse_workflow_job(payload).job_id == MAX_ID


REQUIRED = [
    ("workflow_job",),
    ("workflow_job", "id"),
    ("workflow_job", "run_id"),
    ("repository",),
    ("repository", "id"),
    ("repository", "name"),
    ("repository", "full_name"),
    ("repository", "owner"),
    ("repository", "owner", "id"),
    ("repository", "owner", "login"),
    ("repository", "owner", "type"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=".".join)
def test_a_missing_required_field_is_named(path: tuple[str, ...]) -> None:
    payload = WorkflowJobPayloadFactory()
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(PayloadError, match=rf"^{'.'.join(path)}: "):
        parse_workflow_job(payload)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("workflow_job", "id"), "289782451"),
        (("workflow_job", "id"), 1.5),
        (("workflow_job", "id"), True),
        (("workflow_job", "id"), -4),
        (("workflow_job", "id"), 0),
        (("workflow_job", "id"), MAX_ID + 1),
        (("workflow_job", "labels"), "ubuntu-24.04-riscv"),
        (("workflow_job", "labels"), ["ubuntu-24.04-riscv", 7]),
        (("workflow_job", "name"), ["build"]),
        (("repository", "owner", "id"), None),
        (("repository", "private"), "yes"),
        (("repository", "owner"), []),
        (("installation", "id"), "1"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(path: tuple[str, ...], value: object) -> None:
    payload = WorkflowJobPayloadFactory()
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(PayloadError, match=rf"^{'.'.join(path)}: "):
        parse_workflow_job(payload)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"zen": "\\ud83d\\ude80 launch"}', "\U0001f680 launch"),  # a pair: one character
        (b'{"zen": "\\\\ud800"}', "\\ud800"),  # an escaped backslash, then letters
        (b'{"zen": "\\u00e9t\\u00e9"}', "\u00e9t\u00e9"),
    ],
)
def test_escaped_text_that_is_valid_unicode_is_kept(body: bytes, text: str) -> None:
    assert decode_body(body, "application/json") == {"zen": text}


def test_it_decodes_json_and_form_bodies_alike() -> None:
    payload = {"action": "queued", "zen": "ünïcode"}
    body = json.dumps(payload).encode()
    assert decode_body(body, "application/json") == payload
    form = urlencode({"payload": body.decode()}).encode()
    assert decode_body(form, "application/x-www-form-urlencoded; charset=utf-8") == payload


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "body is not valid JSON"),
        (b"\xff\xfe{}", "application/json", "body is not UTF-8"),
        (b'{"zen": "\xed\xa0\x80"}', "application/json", "body is not UTF-8"),
        (b'{"zen": "\\ud800"}', "application/json", "body holds a lone surrogate"),
        (b'{"zen": "\\uDC00 after"}', "application/json", "body holds a lone surrogate"),
        (b'{"zen": ["\\ud83d"]}', "application/json", "body holds a lone surrogate"),
        (b'{"\\udbff": 1}', "application/json", "body holds a lone surrogate"),
        (b"payload=%7B%22a%22%3A%22%5Cud800%22%7D", "application/x-www-form-urlencoded",
         "body holds a lone surrogate"),
        (b"[1, 2]", "application/json", "body is not a JSON object"),
        (b"", "application/json", "body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "body is not valid JSON"),
        (b"zen=hi", "application/x-www-form-urlencoded", "form body has no payload field"),
        (b"payload=%7Bnot", "application/x-www-form-urlencoded", "body is not valid JSON"),
        (b"payload=\xff", "application/x-www-form-urlencoded", "form body is not valid"),
    ],
)
def test_undecodable_bodies_are_refused(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_body(body, content_type)
