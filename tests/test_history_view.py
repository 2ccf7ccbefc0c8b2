import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import history
from tests.reports_support import KEYS, Clock, job_id, run_job

pytestmark = pytest.mark.django_db

HOUR, DAY = 3600, 86400


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def ids_of(body: dict) -> list[str]:
    return [job["job_id"] for group in body["groups"] for job in group["jobs"]]


def links_of(response) -> dict[str, str]:
    return {
        rel: url
        for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))
    }


def test_it_says_so_when_there_is_no_history(client, redis_client):
    response = client.get("/history")

    assert response.status_code == 200
    assert b"No jobs in this period match these filters." in response.content
    assert b"No jobs in this period." in response.content  # the chart's empty state
    body = client.get("/history.json").json()
    assert (
        body["total"] == 0 and body["groups"] == [] and body["pools"] == [] and body["days"] == []
    )
    assert redis_client.zcard(KEYS.history) == 0


def test_it_lists_jobs_newest_first_grouped_by_account_and_pool(
    client, deliver, clock, redis_client
):
    now = time.time()
    old = run_job(
        deliver,
        clock,
        now - 3 * HOUR,
        waited=240,
        ran=7380,
        repository__owner__login="alpha",
        workflow_job__name="old build",
    )
    mid = run_job(
        deliver,
        clock,
        now - 2 * HOUR,
        waited=60,
        repository__owner__login="beta",
        repository__owner__id=102,
        workflow_job__name="mid build",
    )
    new = run_job(
        deliver,
        clock,
        now - HOUR,
        repository__owner__login="alpha",
        repository__owner__id=101,
        workflow_job__labels=["ubuntu-24.04-riscv-rvv"],
        workflow_job__name="new build",
    )

    response = client.get("/history")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("new build") < html.index("mid build") < html.index("old build")
    assert "4 min" in html and "2 h 3 min" in html  # the old job's wait and run
    assert 'class="badge status-completed">completed<' in html
    assert 'class="badge conclusion conclusion-success">success<' in html
    body = client.get("/history?format=json").json()
    assert ids_of(body) == [job_id(new), job_id(mid), job_id(old)]
    assert [(g["account"], g["pool"]) for g in body["groups"]] == [
        ("alpha", "cloudv10x-rvv"),
        ("beta", "scw-em-rv1"),
        ("alpha", "scw-em-rv1"),
    ]
    oldest = body["groups"][2]["jobs"][0]
    assert (oldest["status"], oldest["conclusion"]) == ("completed", "success")
    assert (oldest["wait_seconds"], oldest["run_seconds"]) == (240.0, 7380.0)
    assert body["groups"][1]["jobs"][0]["status"] == "running"
    assert body["total"] == 3 and body["total_is_estimate"] is False
    assert redis_client.zrevrange(KEYS.history, 0, -1) == [job_id(new), job_id(mid), job_id(old)]


def test_it_gives_each_pool_its_count_and_wait_percentiles(client, deliver, clock, redis_client):
    now = time.time()
    for minutes in range(1, 21):
        run_job(
            deliver,
            clock,
            now - 2 * HOUR + minutes * 60,
            waited=minutes * 60,
            ran=30,
            repository__owner__login="alpha",
            repository__owner__id=101,
        )
    run_job(deliver, clock, now - HOUR, repository__owner__login="alpha", repository__owner__id=101)

    body = client.get("/history.json").json()

    [pool] = body["pools"]
    assert (pool["account"], pool["pool"], pool["jobs"]) == ("alpha", "scw-em-rv1", 21)
    # 20 started jobs that waited 1..20 minutes: nearest rank gives the 10th and the 19th.
    assert (pool["wait_p50_seconds"], pool["wait_p95_seconds"]) == (600.0, 1140.0)
    assert pool["started_jobs"] == 20
    assert body["sample"] == {"jobs": 21, "period_jobs": 21, "is_estimate": False}
    html = client.get("/history").content.decode()
    assert "10 min" in html and "19 min" in html
    assert redis_client.zcard(KEYS.history) == 21


def test_it_filters_by_period_account_pool_and_status(client, deliver, clock, redis_client):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ten_days_ago = (today - timedelta(days=10)).timestamp() + HOUR
    yesterday = (today - timedelta(days=1)).timestamp() + HOUR
    ancient = run_job(
        deliver,
        clock,
        ten_days_ago,
        waited=10,
        ran=10,
        repository__owner__login="alpha",
        repository__owner__id=101,
    )
    done = run_job(
        deliver,
        clock,
        yesterday,
        waited=10,
        ran=10,
        repository__owner__login="alpha",
        repository__owner__id=101,
    )
    running = run_job(
        deliver,
        clock,
        yesterday + 60,
        waited=10,
        repository__owner__login="beta",
        repository__owner__id=102,
    )
    rvv = run_job(
        deliver,
        clock,
        yesterday + 120,
        repository__owner__login="alpha",
        repository__owner__id=101,
        workflow_job__labels=["ubuntu-24.04-riscv-rvv"],
    )

    def ids(query: str) -> list[str]:
        response = client.get(f"/history.json?{query}")
        assert response.status_code == 200, response.content
        return ids_of(response.json())

    assert ids("") == [job_id(rvv), job_id(running), job_id(done), job_id(ancient)]
    assert ids("start=-7d") == [job_id(rvv), job_id(running), job_id(done)]
    day = (today - timedelta(days=10)).date().isoformat()
    assert ids(f"start={day}&end={day}") == [job_id(ancient)]
    assert ids("account=ALPHA&start=-7d") == [job_id(rvv), job_id(done)]
    assert ids(f"account={running['repository']['owner']['id']}") == [job_id(running)]
    assert ids("pool=cloudv10x-rvv") == [job_id(rvv)]
    assert ids("status=running") == [job_id(running)]
    assert ids("status=completed&account=alpha") == [job_id(done), job_id(ancient)]
    assert ids("account=nobody") == []
    filtered = client.get("/history.json?status=completed").json()
    assert filtered["filters"] == {"account": None, "pool": None, "status": "completed"}
    assert [p["jobs"] for p in filtered["pools"]] == [2]
    html = client.get("/history?status=running").content.decode()
    assert 'value="running" selected' in html and running["repository"]["full_name"] in html
    assert done["repository"]["full_name"] not in html
    assert redis_client.zcard(KEYS.history) == 4


def test_it_pages_with_a_github_style_link_header(client, deliver, clock, redis_client):
    now = time.time()
    payloads = [run_job(deliver, clock, now - HOUR + n) for n in range(5)]
    newest_first = [job_id(p) for p in reversed(payloads)]

    first = client.get("/history.json?per_page=2")
    second = client.get("/history.json?per_page=2&page=2")
    last = client.get("/history.json?per_page=2&page=3")
    past = client.get("/history.json?per_page=2&page=9")

    assert [r.status_code for r in (first, second, last, past)] == [200] * 4
    assert ids_of(first.json()) == newest_first[:2]
    assert ids_of(second.json()) == newest_first[2:4]
    assert ids_of(last.json()) == newest_first[4:]
    assert ids_of(past.json()) == [] and past.json()["total"] == 5
    assert links_of(first) == {
        "next": "http://testserver/history.json?page=2&per_page=2",
        "last": "http://testserver/history.json?page=3&per_page=2",
    }
    assert links_of(second) == {
        "first": "http://testserver/history.json?page=1&per_page=2",
        "prev": "http://testserver/history.json?page=1&per_page=2",
        "next": "http://testserver/history.json?page=3&per_page=2",
        "last": "http://testserver/history.json?page=3&per_page=2",
    }
    assert links_of(last).keys() == {"first", "prev"}
    assert links_of(past)["prev"] == "http://testserver/history.json?page=3&per_page=2"
    kept = links_of(client.get("/history?format=json&per_page=1&status=pending&start=-1d"))
    assert kept["next"] == (
        "http://testserver/history?start=-1d&status=pending&page=2&per_page=1&format=json"
    )
    html = client.get("/history?per_page=2&page=2").content.decode()
    assert 'href="/history?page=3&amp;per_page=2" rel="next"' in html and "Page 2 of 3" in html
    assert "past the last one" in client.get("/history?per_page=2&page=9").content.decode()
    assert redis_client.zcard(KEYS.history) == 5


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("page=-1", "page: must be a whole number of at least 1"),
        ("page=0", "page: must be a whole number of at least 1"),
        ("page=two", "page: must be a whole number of at least 1"),
        ("page=1.5", "page: must be a whole number of at least 1"),
        ("per_page=501", "per_page: must be at most 500"),
        ("per_page=lots", "per_page: must be a whole number of at least 1"),
        ("per_page=0", "per_page: must be a whole number of at least 1"),
        ("start=yesterday", "start: use an ISO date"),
        ("end=2025-13-45", "end: use an ISO date"),
        ("start=-1d&end=-2d", "start: must be before end"),
        ("status=lost", "status: must be one of pending, running, completed"),
    ],
)
def test_it_refuses_bad_filters_and_paging_with_a_reason(
    client, deliver, clock, redis_client, query, reason
):
    run_job(deliver, clock, time.time() - HOUR)

    as_json = client.get(f"/history.json?{query}")
    as_html = client.get(f"/history?{query}")

    assert as_json.status_code == 400 and reason in as_json.json()["error"]
    assert as_html.status_code == 400 and reason in as_html.content.decode()
    assert redis_client.zcard(KEYS.history) == 1


def test_it_escapes_what_came_from_a_payload(client, deliver, clock, redis_client):
    evil = "<script>alert(1)</script>"
    payload = run_job(
        deliver,
        clock,
        time.time() - 60,
        waited=5,
        ran=5,
        repository__full_name=evil,
        repository__owner__login="<b>owner</b>",
        workflow_job__name="<img src=x onerror=alert(2)>",
        workflow_job__html_url="javascript:alert(3)",
    )

    response = client.get("/history")

    html = response.content.decode()
    assert response.status_code == 200
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b>owner</b>" not in html and "&lt;b&gt;owner&lt;/b&gt;" in html
    assert "javascript:" not in html
    job = client.get("/history.json").json()["groups"][0]["jobs"][0]
    assert (job["repository"], job["job_url"]) == (evil, None)
    assert redis_client.hget(KEYS.job(job_id(payload)), "repo") == evil


def test_it_masks_private_repositories_unless_the_viewer_is_staff(
    client, admin_client, django_user_model, deliver, clock, redis_client
):
    payload = run_job(
        deliver,
        clock,
        time.time() - 60,
        repository__full_name="acme/secret-rocket",
        repository__private=True,
        workflow_job__name="build secret-rocket",
        workflow_job__html_url="https://github.com/acme/secret-rocket/actions/runs/1/job/2",
    )
    member = django_user_model.objects.create_user("member", password="pw-member-123")
    signed_in = type(client)()
    signed_in.force_login(member)

    for viewer in (client, signed_in):
        html = viewer.get("/history").content.decode()
        body = viewer.get("/history.json").content.decode()
        assert "private repository" in html
        assert "secret-rocket" not in html and "secret-rocket" not in body
    job = client.get("/history.json").json()["groups"][0]["jobs"][0]
    assert job["private"] is True and job["repository"] is None and job["job_url"] is None
    staff_html = admin_client.get("/history").content.decode()
    assert 'href="https://github.com/acme/secret-rocket"' in staff_html
    assert (
        admin_client.get("/history.json").json()["groups"][0]["jobs"][0]["repository"]
        == "acme/secret-rocket"
    )
    assert redis_client.hget(KEYS.job(job_id(payload)), "private") == "1"


def test_it_is_behind_the_admin_login_when_the_setting_says_so(
    client, admin_client, deliver, clock, redis_client
):
    run_job(deliver, clock, time.time() - 60)

    with override_settings(REPORTS_REQUIRE_LOGIN=True):
        anonymous = client.get("/history?status=pending")
        anonymous_json = client.get("/history.json")
        staff = admin_client.get("/history.json")

    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/admin/login/?next=/history%3Fstatus%3Dpending"
    assert anonymous_json.status_code == 302 and b"groups" not in anonymous_json.content
    assert staff.status_code == 200 and staff.json()["total"] == 1
    assert client.get("/history").status_code == 200  # off by default
    assert redis_client.zcard(KEYS.history) == 1


def test_it_draws_jobs_per_day_per_pool_as_svg(client, deliver, clock, redis_client):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    two_days_ago = (today - timedelta(days=2)).timestamp() + HOUR
    for n in range(3):
        run_job(deliver, clock, two_days_ago + n, waited=1, ran=1)
    run_job(deliver, clock, two_days_ago + 10, workflow_job__labels=["ubuntu-24.04-riscv-rvv"])
    run_job(deliver, clock, time.time() - 60)

    response = client.get("/history")

    html = response.content.decode()
    day = (today - timedelta(days=2)).date().isoformat()
    assert response.status_code == 200
    assert html.count("<svg") == 1 and "<script" not in html.split("<svg")[1].split("</svg>")[0]
    assert f"<title>{day} scw-em-rv1: 3 jobs</title>" in html
    assert f"<title>{day} cloudv10x-rvv: 1 jobs</title>" in html
    assert f"<title>{today.date().isoformat()} scw-em-rv1: 1 jobs</title>" in html
    days = client.get("/history.json").json()["days"]
    assert [d["date"] for d in days] == [
        (today - timedelta(days=n)).date().isoformat() for n in (2, 1, 0)
    ]
    assert days[0]["pools"] == {"cloudv10x-rvv": 1, "scw-em-rv1": 3}
    assert days[1]["pools"] == {"cloudv10x-rvv": 0, "scw-em-rv1": 0}
    assert redis_client.zcard(KEYS.history) == 5


def test_it_skips_history_entries_whose_job_has_expired(client, deliver, clock, redis_client):
    kept = run_job(deliver, clock, time.time() - 120)
    gone = run_job(deliver, clock, time.time() - 60)
    redis_client.delete(KEYS.job(job_id(gone)))

    response = client.get("/history.json")

    assert response.status_code == 200
    assert ids_of(response.json()) == [job_id(kept)]
    assert client.get("/history").status_code == 200
    assert redis_client.zscore(KEYS.history, job_id(gone)) is not None


def test_it_reads_the_history_index_and_the_page_never_the_keyspace(
    client, deliver, clock, redis_client
):
    now = time.time()
    for n in range(30):
        run_job(deliver, clock, now - HOUR + n, waited=1, ran=1)
    redis_client.config_resetstat()

    response = client.get("/history.json?per_page=10")

    stats = redis_client.info("commandstats")
    assert response.status_code == 200 and len(ids_of(response.json())) == 10
    assert not any(
        name in stats for name in ("cmdstat_scan", "cmdstat_keys", "cmdstat_zrangebyscore")
    )
    assert stats["cmdstat_hgetall"]["calls"] == 10  # the page's jobs, read whole
    assert stats["cmdstat_hmget"]["calls"] == 30  # the period's filter fields, for the figures


def test_a_filtered_page_searches_a_bounded_part_of_the_history(
    client, deliver, clock, redis_client, monkeypatch
):
    monkeypatch.setattr(history, "SAMPLE_SIZE", 4)
    monkeypatch.setattr(history, "SCAN_LIMIT", 6)
    monkeypatch.setattr(history, "SCAN_CHUNK", 3)
    now = time.time()
    old_match = run_job(deliver, clock, now - 2 * HOUR, repository__owner__login="needle")
    for n in range(8):
        run_job(deliver, clock, now - HOUR + n, repository__owner__login="hay")
    redis_client.config_resetstat()

    body = client.get("/history.json?account=needle").json()
    html = client.get("/history?account=needle").content.decode()
    wide = client.get("/history.json?account=hay&per_page=2").json()

    assert body["groups"] == [] and body["scan_truncated"] is True
    assert "Only the newest 6 jobs of this period were searched" in html
    assert body["total_is_estimate"] is True and body["sample"]["is_estimate"] is True
    assert len(ids_of(wide)) == 2 and wide["has_next"] is True and wide["scan_truncated"] is False
    assert redis_client.info("commandstats")["cmdstat_hmget"]["calls"] < 2 * (6 + 4 + 20)
    narrowed = client.get("/history.json?account=needle&end=-90m").json()
    assert ids_of(narrowed) == [job_id(old_match)] and narrowed["total_is_estimate"] is False


def test_an_unfiltered_page_of_a_sampled_period_is_exact(
    client, deliver, clock, redis_client, monkeypatch
):
    monkeypatch.setattr(history, "SAMPLE_SIZE", 3)
    monkeypatch.setattr(history, "MIN_SAMPLE_PER_DAY", 1)
    now = time.time()
    for n in range(12):
        run_job(
            deliver,
            clock,
            now - HOUR + n,
            waited=60,
            ran=1,
            repository__owner__login="alpha",
            repository__owner__id=101,
        )

    body = client.get("/history.json?per_page=5").json()

    assert body["total"] == 12 and body["total_is_estimate"] is False
    assert body["sample"]["is_estimate"] is True and body["sample"]["period_jobs"] == 12
    assert 3 <= body["sample"]["jobs"] < 12
    assert body["pools"][0]["jobs"] == 12  # every sampled job stands for its share of the day
    assert body["pools"][0]["wait_p50_seconds"] == 60.0
    assert "estimated from" in client.get("/history").content.decode()
    assert redis_client.zcard(KEYS.history) == 12


def test_it_answers_503_when_redis_is_down(client, redis_server):
    redis_server.stop()

    response = client.get("/history")
    as_json = client.get("/history.json")

    assert response.status_code == 503 and b"Redis is unavailable" in response.content
    assert as_json.status_code == 503 and as_json.json() == {"error": "redis unavailable"}


def test_it_accepts_only_get(client, redis_client):
    response = client.post("/history")

    assert response.status_code == 405
    assert redis_client.dbsize() == 0


def test_relative_and_iso_times_parse_to_the_period_they_name():
    now = datetime(2025, 3, 10, 12, tzinfo=UTC).timestamp()

    assert history.parse_time("start", "-7d", now, is_end=False) == now - 7 * DAY
    assert history.parse_time("start", "-90m", now, is_end=False) == now - 90 * 60
    assert history.parse_time("start", "-2w", now, is_end=False) == now - 14 * DAY
    assert (
        history.parse_time("start", "2025-03-01", now, is_end=False)
        == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    )
    assert (
        history.parse_time("end", "2025-03-01", now, is_end=True)
        == datetime(2025, 3, 2, tzinfo=UTC).timestamp()
    )
    assert (
        history.parse_time("end", "2025-03-01T06:30:00Z", now, is_end=True)
        == datetime(2025, 3, 1, 6, 30, tzinfo=UTC).timestamp()
    )
    assert (
        history.parse_time("end", "2025-03-01T08:30:00+02:00", now, is_end=True)
        == datetime(2025, 3, 1, 6, 30, tzinfo=UTC).timestamp()
    )
    with pytest.raises(history.QueryError, match="start: use an ISO date"):
        history.parse_time("start", "last tuesday", now, is_end=False)


@pytest.mark.parametrize(
    "query",
    [
        "end=9999-12-31",
        "start=0001-01-01&end=0001-01-02",
        "start=-999999w&end=-999998w",
        "start=9999-12-31T23:59:59-12:00",
        "start=0001-01-01T00:00:00%2B14:00",
        "end=9999-12-31T23:59:59.999999-14:00",
        "start=1969-12-31&end=1970-01-01",
        "start=-999999m",
    ],
)
def test_times_at_the_ends_of_the_calendar_are_clamped_not_a_500(client, deliver, clock, query):
    run_job(deliver, clock, time.time() - HOUR)

    as_json = client.get(f"/history.json?{query}")
    as_html = client.get(f"/history?{query}")

    assert as_json.status_code == 200, as_json.content
    assert as_html.status_code == 200
    period = as_json.json()["period"]
    assert period["start"] >= "1970-01-01T00:00:00Z"
    assert period["end"] is None or period["end"] <= "9999-12-30T00:00:00Z"


def test_a_period_before_the_epoch_is_empty(client, deliver, clock):
    run_job(deliver, clock, time.time() - HOUR)

    body = client.get("/history.json?start=0001-01-01&end=0001-01-02").json()

    assert (body["total"], body["groups"], body["period"]["start"]) == (
        0, [], "1970-01-01T00:00:00Z"
    )


@given(
    start=st.one_of(st.text(max_size=40), st.from_regex(r"-\d{1,6}[mhdw]", fullmatch=True),
                    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
                    st.dates().map(str)),
    end=st.one_of(st.text(max_size=40), st.dates().map(str),
                  st.datetimes(timezones=st.timezones()).map(datetime.isoformat)),
)  # fmt: skip
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_start_and_end_answer_200_or_a_400_naming_the_parameter(client, start, end):
    response = client.get("/history.json", {"start": start, "end": end})

    assert response.status_code in (200, 400), (start, end, response.content)
    if response.status_code == 400:
        assert response.json()["error"].split(":")[0] in ("start", "end")
