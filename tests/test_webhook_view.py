"""POST /: every step of a delivery, from the status code to what Redis holds afterwards."""
import json
import logging
from pathlib import Path

import pytest
import redis
from django.test import Client, override_settings

from harness.factories import LabelMappingFactory, WorkflowJobPayloadFactory, same_job
from harness.webhook_client import FIXTURES, TEST_SECRET, fixture_bytes, github_headers, post_to
from webhooks.models import LabelMapping
from webhooks.signatures import sign

pytestmark = pytest.mark.django_db

LABEL = "ubuntu-24.04-riscv"


def job_key(payload: dict) -> str:
    return f"prod:job:{payload['workflow_job']['id']}"


def pool_key(entity_id: int, pool: str = "scw-em-rv1") -> str:
    return f"prod:pool:{entity_id}:{pool}:jobs"


def last_delivery(redis_client: redis.Redis) -> dict[str, str]:
    [(_, entry)] = redis_client.xrevrange("prod:deliveries", count=1)
    return entry


# Step 1: only POST, and a cap on the body.


def test_other_methods_are_not_allowed(client: Client) -> None:
    assert client.get("/").status_code == 405
    assert client.put("/").status_code == 405


@override_settings(WEBHOOK_MAX_BODY_BYTES=2048)
def test_a_body_over_the_cap_gets_413_and_records_nothing(deliver, redis_client) -> None:
    payload = WorkflowJobPayloadFactory(workflow_job__steps=[{"name": "x" * 3000}])
    response = deliver(payload)
    assert response.status_code == 413
    assert response.content == b"body too large"
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hget("prod:stats", "rejected:too_large") == "1"
    assert not redis_client.exists("prod:deliveries")  # unverified: counted, never logged


@override_settings(WEBHOOK_MAX_BODY_BYTES=2048)
def test_a_declared_length_over_the_cap_is_refused_before_reading(wsgi_application) -> None:
    response = post_to(wsgi_application, b"{}", "application/json", {"Content-Length": "999999999"})
    assert response.status_code == 413


# Step 2: signatures.


def test_a_missing_signature_gets_401_and_records_no_job(deliver, redis_client) -> None:
    response = deliver(WorkflowJobPayloadFactory(), secret=None)
    assert response.status_code == 401
    assert response.content == b"missing X-Hub-Signature-256 header"
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hgetall("prod:stats") == {"rejected:missing_signature": "1"}


def test_a_wrong_signature_gets_401_and_records_no_job(deliver, redis_client) -> None:
    response = deliver(WorkflowJobPayloadFactory(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.content == b"invalid signature"
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hgetall("prod:stats") == {"rejected:bad_signature": "1"}


def test_a_sha1_only_signature_gets_401(wsgi_application, redis_client) -> None:
    import hashlib
    import hmac

    body = json.dumps(WorkflowJobPayloadFactory()).encode()
    headers = github_headers(body, secret=None)
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(TEST_SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = post_to(wsgi_application, body, "application/json", headers)
    assert response.status_code == 401
    assert redis_client.keys("prod:job:*") == []


def test_no_response_or_log_line_contains_the_expected_signature(
    wsgi_application, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(WorkflowJobPayloadFactory()).encode()
    expected = sign(body, TEST_SECRET.encode())
    caplog.set_level(logging.DEBUG)
    for given in ["sha256=" + "0" * 64, expected[:-2], "sha1=abc", None]:
        headers = github_headers(body, secret=None)
        if given:
            headers["X-Hub-Signature-256"] = given
        response = post_to(wsgi_application, body, "application/json", headers)
        assert response.status_code == 401
        assert expected[7:] not in response.content.decode()
        assert TEST_SECRET not in response.content.decode()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert expected[7:] not in logged
    assert TEST_SECRET not in logged
    assert body.decode()[:60] not in logged


@override_settings(GITHUB_WEBHOOK_SECRETS=["new-secret-0123456789abcdef0123456789", TEST_SECRET])
def test_deliveries_signed_with_either_secret_are_accepted_during_a_rotation(deliver) -> None:
    assert deliver(WorkflowJobPayloadFactory(), secret="new-secret-0123456789abcdef0123456789").status_code == 200
    assert deliver(WorkflowJobPayloadFactory(), secret=TEST_SECRET).status_code == 200
    assert deliver(WorkflowJobPayloadFactory(), secret="retired-secret").status_code == 401


# Step 3: the event header and the body.


def test_a_missing_event_header_gets_400(deliver, redis_client) -> None:
    response = deliver(WorkflowJobPayloadFactory(), headers={"X-GitHub-Event": ""})
    assert response.status_code == 400
    assert response.content == b"missing X-GitHub-Event header"
    assert redis_client.keys("prod:job:*") == []


def test_malformed_json_gets_400(deliver, redis_client) -> None:
    response = deliver(b'{"action": "queued", ')
    assert response.status_code == 400
    assert response.content == b"bad payload: body is not valid JSON"
    assert redis_client.hgetall("prod:stats") == {"rejected:bad_payload": "1"}


@pytest.mark.parametrize(
    "change",
    [
        {"action": "\ud800"},
        {"workflow_job": {"name": "build \udc00"}},
        {"workflow_job": {"labels": ["ubuntu-24.04-riscv", "\ud83d"]}},
    ],
    ids=["action", "job name", "label"],
)
def test_text_that_is_not_unicode_gets_400_and_records_nothing(deliver, redis_client, change) -> None:
    # Found by tests/test_hostile_input.py: it used to reach Redis and fail there with a 500.
    payload = WorkflowJobPayloadFactory()
    for key, value in change.items():
        payload[key] = {**payload[key], **value} if isinstance(value, dict) else value
    response = deliver(payload)
    assert response.status_code == 400
    assert response.content == b"bad payload: body holds a lone surrogate, which is not text"
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hgetall("prod:stats") == {"rejected:bad_payload": "1"}


def test_a_form_encoded_delivery_is_recorded_like_a_json_one(deliver, redis_client) -> None:
    payload = WorkflowJobPayloadFactory()
    response = deliver(payload, form=True)
    assert response.status_code == 200
    assert redis_client.hget(job_key(payload), "status") == "pending"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("workflow_job", "id"), "workflow_job.id"),
        (("repository", "owner", "id"), "repository.owner.id"),
        (("repository",), "repository"),
    ],
)
def test_a_payload_missing_a_required_field_gets_400_naming_it(
    deliver, redis_client, path: tuple[str, ...], field: str
) -> None:
    payload = WorkflowJobPayloadFactory()
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    response = deliver(payload)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"bad payload: {field}: ")
    assert redis_client.keys("prod:job:*") == []


def test_a_wrongly_typed_action_gets_400(deliver) -> None:
    response = deliver(WorkflowJobPayloadFactory(action=["queued"]))
    assert response.status_code == 400
    assert response.content == b"bad payload: action: missing or not a string"


# Step 5 and 6: pings, other events, other actions.


def test_a_ping_gets_pong(deliver, redis_client) -> None:
    response = deliver(fixture_bytes("ping.payload.json"), event="ping")
    assert (response.status_code, response.content) == (200, b"pong")
    assert redis_client.keys("prod:job:*") == []


def test_other_events_are_acknowledged_and_ignored(deliver, redis_client) -> None:
    response = deliver(fixture_bytes("installation.created.payload.json"), event="installation")
    assert (response.status_code, response.content) == (200, b"ignored: not a workflow_job event")
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.hgetall("prod:stats") == {"ignored:event": "1"}


@pytest.mark.parametrize("action", ["waiting", "started", "requested", "some_future_action"])
def test_other_actions_are_acknowledged_and_ignored(deliver, redis_client, action: str) -> None:
    response = deliver(WorkflowJobPayloadFactory(action=action))
    assert response.status_code == 200
    assert response.content == b"ignored: not a queued, in_progress or completed action"
    assert redis_client.keys("prod:job:*") == []


def test_an_ignored_action_needs_no_other_field(deliver) -> None:
    assert deliver({"action": "waiting"}).status_code == 200


# Steps 7 to 11: a workflow_job, recorded.


def test_a_queued_job_is_recorded_with_every_field(deliver, redis_client) -> None:
    payload = WorkflowJobPayloadFactory(
        workflow_job__labels=["Ubuntu-24.04-RISCV"],
        workflow_job__name="test (rv64)",
        repository__owner__login="riseproject-dev",
        repository__name="llama.cpp",
        repository__private=True,
    )
    response = deliver(payload)
    job_id = payload["workflow_job"]["id"]
    owner_id = payload["repository"]["owner"]["id"]
    assert response.status_code == 200
    assert response.content.decode() == f"stored: job {job_id} pending in pool scw-em-rv1"
    job = redis_client.hgetall(job_key(payload))
    assert job.pop("created_at")
    assert job == {
        "status": "pending",
        "job_id": str(job_id),
        "entity_id": str(owner_id),
        "entity_type": "organization",
        "entity_name": "riseproject-dev",
        "owner_id": str(owner_id),
        "labels": '["Ubuntu-24.04-RISCV"]',
        "k8s_pool": "scw-em-rv1",
        "k8s_image": "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest",
        "mapping_id": str(LabelMapping.objects.get(label="ubuntu-24.04-riscv").pk),
        "repo": "riseproject-dev/llama.cpp",
        "private": "1",
        "installation_id": str(payload["installation"]["id"]),
        "html_url": payload["workflow_job"]["html_url"],
        "job_name": "test (rv64)",
        "workflow_name": "CI",
        "run_id": str(payload["workflow_job"]["run_id"]),
        "run_attempt": "1",
        "started_at": "",
        "completed_at": "",
        "conclusion": "",
        "runner_name": "",
    }
    assert redis_client.smembers(pool_key(owner_id)) == {str(job_id)}
    assert redis_client.smembers("prod:pools") == {f"{owner_id}:scw-em-rv1"}
    assert redis_client.zrange("prod:history", 0, -1) == [str(job_id)]
    [(_, event)] = redis_client.xrange("prod:events")
    assert event["job_id"] == str(job_id) and event["status"] == "pending"
    assert event["k8s_pool"] == "scw-em-rv1" and event["labels"] == '["Ubuntu-24.04-RISCV"]'
    entry = last_delivery(redis_client)
    assert (entry["outcome"], entry["job_id"], entry["http_status"]) == ("stored", str(job_id), "200")
    assert redis_client.hgetall("prod:stats") == {"stored": "1"}


def test_a_personal_account_job_is_keyed_by_the_repository_id(deliver, redis_client) -> None:
    payload = WorkflowJobPayloadFactory(repository__owner__type="User")
    assert deliver(payload).status_code == 200
    repo_id = payload["repository"]["id"]
    assert redis_client.hget(job_key(payload), "entity_id") == str(repo_id)
    assert redis_client.hget(job_key(payload), "entity_type") == "repository"
    assert redis_client.smembers(pool_key(repo_id)) == {str(payload["workflow_job"]["id"])}


@pytest.mark.parametrize("labels", [None, []])
def test_a_job_without_labels_gets_200_and_records_nothing(deliver, redis_client, labels) -> None:
    response = deliver(WorkflowJobPayloadFactory(workflow_job__labels=labels))
    assert (response.status_code, response.content) == (
        200,
        b"ignored: no label mapping matches this job",
    )
    assert redis_client.keys("prod:job:*") == []
    assert redis_client.keys("prod:pool:*") == []
    assert redis_client.hgetall("prod:stats") == {"ignored:no_label_match": "1"}


def test_a_job_for_other_runners_is_ignored(deliver, redis_client) -> None:
    response = deliver(WorkflowJobPayloadFactory(workflow_job__labels=["ubuntu-latest"]))
    assert response.status_code == 200
    assert redis_client.keys("prod:job:*") == []
    assert last_delivery(redis_client)["reason"] == "no_label_match"


def test_each_default_label_reaches_its_pool(deliver, redis_client) -> None:
    expected = {
        "ubuntu-24.04-riscv": "scw-em-rv1",
        "ubuntu-24.04-riscv-2xlarge": "cloudv10x-pioneer",
        "ubuntu-24.04-riscv-rvv": "cloudv10x-rvv",
        "ubuntu-26.04-riscv": "scw-em-rv1",
        "ubuntu-26.04-riscv-2xlarge": "cloudv10x-pioneer",
        "ubuntu-26.04-riscv-rvv": "cloudv10x-rvv",
    }
    for label, pool in expected.items():
        payload = WorkflowJobPayloadFactory(workflow_job__labels=[label])
        assert deliver(payload).status_code == 200
        assert redis_client.hget(job_key(payload), "k8s_pool") == pool
        release = label.split("-")[1]
        assert redis_client.hget(job_key(payload), "k8s_image").endswith(f":ubuntu-{release}-latest")


def test_a_mapping_added_since_the_last_delivery_is_used(deliver, redis_client) -> None:
    deliver(WorkflowJobPayloadFactory())  # loads the mapping cache
    LabelMappingFactory(label="ubuntu-24.04-riscv-gpu", pool="gpu-pool")
    payload = WorkflowJobPayloadFactory(workflow_job__labels=["ubuntu-24.04-riscv-gpu"])
    assert deliver(payload).status_code == 200
    assert redis_client.hget(job_key(payload), "k8s_pool") == "gpu-pool"


def test_the_full_lifecycle_answers_what_happened(deliver, redis_client) -> None:
    payload = WorkflowJobPayloadFactory()
    job_id = payload["workflow_job"]["id"]
    started = same_job(payload, "in_progress", runner_name="rv-runner-7")
    done = same_job(payload, "completed", conclusion="success", runner_name="rv-runner-7")
    answers = [deliver(p).content.decode() for p in (payload, payload, started, payload, done, started)]
    assert answers == [
        f"stored: job {job_id} pending in pool scw-em-rv1",
        f"duplicate: job {job_id} is already pending",
        f"updated: job {job_id} pending -> running",
        f"duplicate: job {job_id} is already running",
        f"updated: job {job_id} running -> completed",
        f"duplicate: job {job_id} is already completed",
    ]
    job = redis_client.hgetall(job_key(payload))
    assert (job["status"], job["conclusion"], job["runner_name"]) == ("completed", "success", "rv-runner-7")
    assert float(job["created_at"]) <= float(job["started_at"]) <= float(job["completed_at"])
    assert redis_client.ttl(job_key(payload)) > 14 * 86400
    assert redis_client.smembers(pool_key(payload["repository"]["owner"]["id"])) == set()
    assert redis_client.hgetall("prod:stats") == {
        "stored": "1",
        "updated": "2",
        "duplicate:repeat": "1",
        "duplicate:out_of_order": "2",
    }


def test_the_staging_deployment_writes_under_its_own_prefix(deliver, redis_client, settings) -> None:
    settings.RUNNERHUB_ENV = "staging"
    payload = WorkflowJobPayloadFactory()
    assert deliver(payload).status_code == 200
    assert redis_client.hget(f"staging:job:{payload['workflow_job']['id']}", "status") == "pending"
    assert redis_client.keys("prod:*") == []


# Step 11: Redis down.


def test_redis_down_gets_503_and_the_same_delivery_succeeds_once_it_is_back(
    deliver, redis_server, redis_client
) -> None:
    payload = WorkflowJobPayloadFactory()
    deliver(WorkflowJobPayloadFactory())  # connections are open and pooled when Redis goes
    redis_server.stop()
    response = deliver(payload)
    assert response.status_code == 503
    assert response.content == b"redis unavailable, redeliver later"
    redis_server.start()
    assert deliver(payload).status_code == 200
    assert redis_server.client().hget(job_key(payload), "status") == "pending"


def test_rejections_are_answered_even_when_redis_is_down(deliver, redis_server) -> None:
    redis_server.stop()
    assert deliver(WorkflowJobPayloadFactory(), secret="wrong").status_code == 401
    assert deliver(b"{", event="workflow_job").status_code == 400


# The octokit fixtures, signed and delivered as they are.

FIXTURE_RESULTS = {
    "ping.payload.json": (200, "pong"),
    "ping.with-app_id.payload.json": (200, "pong"),
    "ping.with-organization.payload.json": (200, "pong"),
    "ping.ghes-35.payload.json": (200, "pong"),
    "workflow_job.waiting.payload.json": (200, "ignored: not a queued, in_progress or completed action"),
}


def fixture_names() -> list[str]:
    return sorted(
        str(path.relative_to(FIXTURES)) for path in FIXTURES.rglob("*.json")
    )


@pytest.mark.parametrize("name", fixture_names())
def test_each_github_fixture_gets_its_documented_result(deliver, redis_client, name: str) -> None:
    event = Path(name).name.split(".")[0]
    response = deliver(fixture_bytes(name), event=event)
    body = response.content.decode()
    if name in FIXTURE_RESULTS:
        assert (response.status_code, body) == FIXTURE_RESULTS[name]
    elif event != "workflow_job":
        assert (response.status_code, body) == (200, "ignored: not a workflow_job event")
    elif ".started." in name:
        assert (response.status_code, body) == (
            200,
            "ignored: not a queued, in_progress or completed action",
        )
    else:
        # Every example job runs on GitHub's own runners (ubuntu-latest, self-hosted k8s).
        assert (response.status_code, body) == (200, "ignored: no label mapping matches this job")
    assert redis_client.keys("prod:job:*") == []


@pytest.mark.parametrize(
    "name",
    [n for n in fixture_names() if n.split("/")[-1].startswith("workflow_job.") and ".started." not in n
     and "waiting" not in n],
)
def test_each_workflow_job_fixture_is_recorded_when_it_asks_for_a_riscv_runner(
    deliver, redis_client, name: str
) -> None:
    payload = json.loads(fixture_bytes(name))
    payload["workflow_job"]["labels"] = ["ubuntu-24.04-riscv"]
    for form in (False, True):
        response = deliver(payload, form=form)
        assert response.status_code == 200, response.content
    job = redis_client.hgetall(f"prod:job:{payload['workflow_job']['id']}")
    status = {"queued": "pending", "in_progress": "running", "completed": "completed"}
    assert job["status"] == status[payload["action"]]
    owner = payload["repository"]["owner"]
    entity = owner["id"] if owner["type"] == "Organization" else payload["repository"]["id"]
    assert job["entity_id"] == str(entity)
    in_pool = redis_client.sismember(f"prod:pool:{entity}:scw-em-rv1:jobs", job["job_id"])
    assert in_pool == (job["status"] != "completed")


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (["ubuntu-24.04-riscv"] + [f"x-{n}" for n in range(4_000)], "at most 100 labels"),
        (["ubuntu-24.04-riscv", "x" * 256], "a label is longer than 255 characters"),
    ],
    ids=["4,000 labels", "a 256-character label"],
)
def test_labels_past_the_limits_get_400(deliver, redis_client, labels, reason) -> None:
    payload = WorkflowJobPayloadFactory(workflow_job__labels=labels)

    response = deliver(payload)

    assert response.status_code == 400
    assert response.content.decode() == f"bad payload: workflow_job.labels: {reason}"
    assert redis_client.keys("prod:job:*") == []


def test_labels_at_the_limits_are_matched(deliver, redis_client) -> None:
    mapping = LabelMappingFactory(label="riscv-*", pool="globbed", extra_labels=["riscv-*"])
    labels = [f"riscv-{n}-" + "x" * 240 for n in range(100)]

    response = deliver(WorkflowJobPayloadFactory(workflow_job__labels=labels))

    assert response.content.decode().endswith(f"in pool {mapping.pool}")
