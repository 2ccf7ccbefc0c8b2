import logging
import shlex
import time

import pytest
from django.test import override_settings

from harness.factories import WorkflowJobPayloadFactory, same_job
from tests.reports_support import KEYS, Clock, job_id, run_job

pytestmark = pytest.mark.django_db

MINUTE = 60


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def pool_of(body: dict, pool: str) -> dict:
    [found] = [p for p in body["pools"] if p["pool"] == pool]
    return found


def test_it_says_so_when_nothing_has_happened_yet(client, redis_client):
    response = client.get("/usage")

    assert response.status_code == 200
    html = response.content.decode()
    assert "No pool yet: no job has matched a label mapping." in html
    assert "No job is pending or running, and no pool has workers." in html
    assert "No deliveries yet." in html
    body = client.get("/usage.json").json()
    assert body["pools"] == [] and body["deliveries"] == []
    assert body["totals"] == {"pending": 0, "running": 0, "workers": 0}
    assert redis_client.dbsize() == 0


def test_it_splits_a_pools_jobs_by_label_set(client, deliver, clock, redis_client):
    org = {"repository__owner__login": "riscv-org", "repository__owner__id": 4242}
    now = time.time()
    waiting = run_job(deliver, clock, now - 64 * MINUTE, workflow_job__name="test (rv64gc)", **org)
    running = run_job(
        deliver,
        clock,
        now - 30 * MINUTE,
        waited=5 * MINUTE,
        workflow_job__labels=["ubuntu-26.04-riscv"],
        **org,
    )
    finished = run_job(deliver, clock, now - 20 * MINUTE, waited=60, ran=60, **org)

    response = client.get("/usage")

    assert response.status_code == 200
    html = response.content.decode()
    assert "1 h 4 min" in html  # how long the pending job has waited
    assert "25 min" in html  # how long the running job has run
    assert 'class="badge status-pending">pending<' in html
    assert 'class="badge status-running">running<' in html
    repo = waiting["repository"]["full_name"]
    assert f'<a href="https://github.com/{repo}">{repo}</a>' in html
    assert f'<a href="{waiting["workflow_job"]["html_url"]}">test (rv64gc)</a>' in html
    assert job_id(finished) not in html.split("Recent deliveries")[0]
    body = client.get("/usage", HTTP_ACCEPT="application/json").json()
    pool = pool_of(body, "scw-em-rv1")
    assert (pool["account"], pool["entity_id"], pool["pending"], pool["running"]) == (
        "riscv-org",
        "4242",
        1,
        1,
    )
    assert [(s["labels"], s["pending"], s["running"]) for s in pool["label_sets"]] == [
        (["ubuntu-24.04-riscv"], 1, 0),
        (["ubuntu-26.04-riscv"], 0, 1),
    ]
    assert pool["label_sets"][1]["jobs"][0]["job_id"] == job_id(running)
    assert pool["label_sets"][0]["jobs"][0]["wait_seconds"] >= 64 * MINUTE
    assert body["totals"] == {"pending": 1, "running": 1, "workers": 0}
    assert redis_client.smembers(KEYS.pool_jobs(4242, "scw-em-rv1")) == {
        job_id(waiting),
        job_id(running),
    }


def test_it_puts_the_longest_waiting_job_first(client, deliver, clock, redis_client):
    now = time.time()
    recent = run_job(deliver, clock, now - MINUTE, repository__owner__id=7)
    oldest = run_job(deliver, clock, now - 90 * MINUTE, repository__owner__id=7)

    jobs = pool_of(client.get("/usage.json").json(), "scw-em-rv1")["label_sets"][0]["jobs"]

    assert [job["job_id"] for job in jobs] == [job_id(oldest), job_id(recent)]
    assert redis_client.scard(KEYS.pool_jobs(7, "scw-em-rv1")) == 2


def test_it_shows_each_pools_workers_and_totals(client, deliver, clock, redis_client):
    run_job(
        deliver,
        clock,
        time.time() - MINUTE,
        repository__owner__id=11,
        repository__owner__login="busy-org",
    )
    redis_client.sadd(KEYS.pool_workers(11, "scw-em-rv1"), "runner-a1", "runner-b2")
    now = time.time()
    redis_client.hset(
        KEYS.worker("runner-a1"),
        mapping={"state": "running", "created_at": now - 300, "updated_at": now - 120,
                 "job_id": "4242", "label_key": "ubuntu-24.04-riscv"},
    )  # fmt: skip
    redis_client.hset(
        KEYS.worker("runner-b2"),
        mapping={"state": "launched", "created_at": now - 30, "updated_at": now - 30, "job_id": ""},
    )
    redis_client.sadd(KEYS.pools, "12:cloudv10x-pioneer", "11:cloudv10x-rvv")  # seen, idle now

    response = client.get("/usage")

    html = response.content.decode()
    assert response.status_code == 200
    rows = {row.split('"')[0]: row for row in html.split('data-worker="')[1:]}
    assert set(rows) == {"runner-a1", "runner-b2"}
    assert 'worker-running">running<' in rows["runner-a1"] and "4242" in rows["runner-a1"]
    assert "2 min" in rows["runner-a1"] and "5 min" in rows["runner-a1"]  # in its state, in all
    assert 'worker-launched">launched<' in rows["runner-b2"]
    idle_list = html.split('<details class="idle-pools">')[1].split("</details>")[0]
    assert "2 idle pools" in idle_list
    assert "account 12" in idle_list  # no job anywhere names this account
    assert "busy-org" in idle_list  # named after its account's busy pool
    body = client.get("/usage.json").json()
    workers = pool_of(body, "scw-em-rv1")["workers"]
    assert [(w["name"], w["state"], w["job_id"]) for w in workers] == [
        ("runner-a1", "running", "4242"),
        ("runner-b2", "launched", None),
    ]
    assert workers[0]["labels"] == ["ubuntu-24.04-riscv"] and 299 < workers[0]["age_seconds"] < 400
    idle = pool_of(body, "cloudv10x-pioneer")
    assert (idle["pending"], idle["running"], idle["workers"], idle["account"]) == (0, 0, [], None)
    assert pool_of(body, "cloudv10x-rvv")["account"] == "busy-org"
    assert body["totals"] == {"pending": 1, "running": 0, "workers": 2}
    assert [p["pool"] for p in body["pools"]] == [
        "scw-em-rv1",
        "cloudv10x-rvv",
        "cloudv10x-pioneer",
    ]
    assert redis_client.scard(KEYS.pools) == 3


def test_it_says_why_each_recent_delivery_ended_as_it_did(client, deliver, redis_client):
    queued = WorkflowJobPayloadFactory()
    assert deliver(queued).status_code == 200
    assert deliver(queued).status_code == 200
    assert (
        deliver(WorkflowJobPayloadFactory(workflow_job__labels=["ubuntu-latest"])).status_code
        == 200
    )
    assert deliver(WorkflowJobPayloadFactory(), headers={"X-GitHub-Event": ""}).status_code == 400
    assert deliver(same_job(queued, "waiting")).status_code == 200

    response = client.get("/usage")

    html = response.content.decode()
    assert response.status_code == 200
    for words in (
        "not a queued, in_progress or completed action",
        "no X-GitHub-Event header",
        "no label mapping matches this job",
        "already recorded at this status",
    ):
        assert words in html
    assert 'class="badge outcome-rejected">rejected<' in html
    deliveries = client.get("/usage.json").json()["deliveries"]
    assert [(d["outcome"], d["reason"], d["http_status"]) for d in deliveries] == [
        ("ignored", "action", 200),
        ("rejected", "missing_event", 400),
        ("ignored", "no_label_match", 200),
        ("duplicate", "repeat", 200),
        ("stored", None, 200),
    ]
    assert deliveries[4]["job_id"] == job_id(queued)
    assert redis_client.xlen(KEYS.deliveries) == 5


def test_unsigned_deliveries_are_counted_but_never_reach_the_delivery_log(
    client, deliver, redis_client, caplog, settings
):
    settings.DELIVERY_LOG_LENGTH = 100
    real = WorkflowJobPayloadFactory()
    assert deliver(real).status_code == 200
    forged = 'forged-<b>id</b> outcome=stored\nINFO webhook.delivery delivery="x"'

    caplog.set_level(logging.DEBUG)
    for n in range(150):  # more than the log keeps
        secret = None if n % 2 else "not-the-secret"
        headers = {"X-GitHub-Delivery": f"{forged}-{n}"}
        assert deliver(WorkflowJobPayloadFactory(), secret=secret, headers=headers).status_code == 401

    deliveries = client.get("/usage.json").json()["deliveries"]
    assert [(d["outcome"], d["job_id"]) for d in deliveries] == [("stored", job_id(real))]
    assert "forged" not in client.get("/usage").content.decode()
    assert redis_client.hget(KEYS.stats, "rejected:missing_signature") == "75"
    assert redis_client.hget(KEYS.stats, "rejected:bad_signature") == "75"
    assert "forged" not in caplog.text


def test_the_headers_of_signed_deliveries_are_quoted_in_log_lines(deliver, caplog):
    caplog.set_level(logging.DEBUG, logger="webhooks.lifecycle")
    forged = "d-1 outcome=ignored pool=x\nERROR forged line"

    deliver(WorkflowJobPayloadFactory(), headers={"X-GitHub-Delivery": forged})

    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook.")]
    assert "\n" not in line
    fields = dict(token.split("=", 1) for token in shlex.split(line)[1:])
    assert fields["delivery"] == "d-1 outcome=ignored pool=x\\nERROR forged line"
    assert (fields["outcome"], fields["event"]) == ("stored", "workflow_job")


def test_it_redraws_only_its_live_part_for_the_refresh_script(client, deliver, clock, redis_client):
    payload = run_job(deliver, clock, time.time() - MINUTE)

    page = client.get("/usage")
    fragment = client.get("/usage?fragment=live")

    assert page.status_code == fragment.status_code == 200
    assert b'data-refresh-url="/usage?fragment=live"' in page.content
    assert b"/static/reports/refresh.js" in page.content
    assert b"<script>" not in page.content  # no inline script: a CSP can forbid them
    assert b"<html" not in fragment.content and b"Drawn at" in fragment.content
    assert job_id(payload).encode() in fragment.content
    assert fragment["Cache-Control"].startswith("max-age=0")
    assert redis_client.exists(KEYS.job(job_id(payload)))


def test_it_escapes_what_came_from_a_payload(client, deliver, clock, redis_client):
    evil = "<script>alert(1)</script>"
    payload = run_job(
        deliver,
        clock,
        time.time() - MINUTE,
        repository__full_name=evil,
        workflow_job__name='"><img src=x onerror=alert(2)>',
        workflow_job__html_url="javascript:alert(3)",
    )

    response = client.get("/usage")

    html = response.content.decode()
    assert response.status_code == 200
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "javascript:" not in html
    assert client.get("/usage.json")["Content-Type"] == "application/json"
    assert redis_client.hget(KEYS.job(job_id(payload)), "repo") == evil


def test_it_masks_private_repositories_unless_the_viewer_is_staff(
    client, admin_client, deliver, clock, redis_client
):
    payload = run_job(
        deliver,
        clock,
        time.time() - MINUTE,
        repository__private=True,
        repository__full_name="acme/secret-rocket",
        workflow_job__html_url="https://github.com/acme/secret-rocket/actions/runs/1/job/2",
    )

    anonymous = client.get("/usage").content.decode()
    anonymous_json = client.get("/usage.json")
    staff = admin_client.get("/usage").content.decode()

    assert "private repository" in anonymous and "secret-rocket" not in anonymous
    assert b"secret-rocket" not in anonymous_json.content
    job = pool_of(anonymous_json.json(), "scw-em-rv1")["label_sets"][0]["jobs"][0]
    assert (job["private"], job["repository"], job["job_url"], job["job_name"]) == (
        True,
        None,
        None,
        None,
    )
    assert '<a href="https://github.com/acme/secret-rocket">acme/secret-rocket</a>' in staff
    assert 'class="badge private-badge">private<' in staff
    assert redis_client.hget(KEYS.job(job_id(payload)), "repo") == "acme/secret-rocket"


def test_it_is_behind_the_admin_login_when_the_setting_says_so(
    client, admin_client, deliver, clock, redis_client
):
    run_job(deliver, clock, time.time() - MINUTE)

    with override_settings(REPORTS_REQUIRE_LOGIN=True):
        anonymous = client.get("/usage")
        fragment = client.get("/usage?fragment=live")
        staff = admin_client.get("/usage.json")

    assert anonymous.status_code == 302 and anonymous["Location"] == "/admin/login/?next=/usage"
    assert fragment.status_code == 302 and b"Drawn at" not in fragment.content
    assert staff.status_code == 200 and staff.json()["totals"]["pending"] == 1
    assert redis_client.scard(KEYS.pools) == 1


def test_it_answers_503_when_redis_is_down(client, redis_server):
    redis_server.stop()

    response = client.get("/usage")
    as_json = client.get("/usage.json")

    assert response.status_code == 503 and b"Redis is unavailable" in response.content
    assert as_json.status_code == 503 and as_json.json() == {"error": "redis unavailable"}


def test_it_accepts_only_get(client, redis_client):
    response = client.post("/usage")

    assert response.status_code == 405
    assert redis_client.dbsize() == 0
