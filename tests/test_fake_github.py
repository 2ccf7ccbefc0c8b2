"""The fake GitHub REST API, driven by the real githubkit client the scheduler uses."""
import base64
import json
import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pydantic
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy, RedisCacheStrategy
from githubkit.exception import (
    PrimaryRateLimitExceeded,
    RequestError,
    RequestFailed,
    SecondaryRateLimitExceeded,
)

from harness.fake_github import FakeGitHub
from harness.redis_server import RedisServer

ORG_INSTALLATION = 7
USER_INSTALLATION = 8
JIT = {"name": "rv-1", "runner_group_id": 1, "labels": ["riscv64"]}
# githubkit opens a new httpx client per request unless used as a context manager, and
# httpx builds an SSL context (20 ms of certificate loading) per client; one shared context
# keeps that cost out of every call, here as in production.
TLS = ssl.create_default_context()
HTTP = httpx.Client(verify=TLS)  # for the raw requests githubkit would refuse to send


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_installation(ORG_INSTALLATION, "acme", 1001, repositories=[(501, "acme/widgets")])
        fake.add_installation(
            USER_INSTALLATION, "alice", 2002, "User", repositories=[(601, "alice/tools")]
        )
        yield fake
        assert fake.errors == []  # the fake never crashed while answering


def app_client(fake: FakeGitHub, **config: object) -> GitHub:
    # A cache of its own: githubkit's default MemCacheStrategy is one per process and keys
    # tokens by app id only, so a previous test's fake would leak its JWT and tokens in.
    config.setdefault("cache_strategy", MemCacheStrategy())
    return GitHub(
        AppAuthStrategy(fake.app_id, fake.private_key_pem),
        base_url=fake.url,
        auto_retry=False,
        ssl_verify=TLS,
        **config,
    )


def installation_client(fake: FakeGitHub, installation_id: int = ORG_INSTALLATION) -> GitHub:
    """Keep the client in a variable: `client.rest.actions` holds it only weakly."""
    app = app_client(fake)
    auth = AppInstallationAuthStrategy(fake.app_id, fake.private_key_pem, installation_id)
    return app.with_auth(auth)


def raw_jwt(fake: FakeGitHub, key: str | None = None, **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": str(fake.app_id), "iat": now - 60, "exp": now + 540, **claims}
    return jwt.encode(payload, key or fake.private_key_pem, algorithm="RS256")


def raw_token(fake: FakeGitHub, installation_id: int = ORG_INSTALLATION) -> str:
    answer = HTTP.post(
        f"{fake.url}app/installations/{installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {raw_jwt(fake)}"},
    )
    assert answer.status_code == 201
    return answer.json()["token"]


def status_of(call: object) -> int:
    with pytest.raises(RequestFailed) as failure:
        call()  # type: ignore[operator]
    return failure.value.response.status_code


def test_every_answer_parses_with_githubkits_models(fake: FakeGitHub) -> None:
    app = app_client(fake)
    org_github = installation_client(fake)
    org = org_github.rest.actions
    user_github = installation_client(fake, USER_INSTALLATION)
    user = user_github.rest.actions
    fake.add_delivery("g-1", "workflow_job", "queued", 200, time.time(), ORG_INSTALLATION, 501)
    fake.add_job("acme/widgets", 9001, "queued", labels=["riscv64"])

    assert app.rest.apps.get_authenticated().parsed_data.id == fake.app_id
    assert app.rest.apps.get_installation(ORG_INSTALLATION).parsed_data.account.login == "acme"
    assert app.rest.apps.get_org_installation("acme").parsed_data.id == ORG_INSTALLATION
    assert app.rest.apps.get_repo_installation("alice", "tools").parsed_data.id == USER_INSTALLATION
    assert app.rest.apps.get_user_installation("alice").parsed_data.target_type == "User"
    token = app.rest.apps.create_installation_access_token(ORG_INSTALLATION).parsed_data
    assert token.token.startswith("ghs_") and token.repository_selection == "selected"
    [delivery] = app.rest.apps.list_webhook_deliveries().parsed_data
    assert app.rest.apps.get_webhook_delivery(delivery.id).parsed_data.guid == "g-1"
    app.rest.apps.redeliver_webhook_delivery(delivery.id).parsed_data

    groups = org.list_self_hosted_runner_groups_for_org("acme").parsed_data
    assert [g.name for g in groups.runner_groups] == ["Default"]
    created = org.create_self_hosted_runner_group_for_org("acme", name="riscv")
    assert created.status_code == 201 and created.parsed_data.id == 2
    jit = org.generate_runner_jitconfig_for_org("acme", data=JIT).parsed_data
    assert jit.runner.status == "offline" and jit.runner.busy is False
    assert [(label.name, label.type) for label in jit.runner.labels] == [("riscv64", "custom")]
    listed = org.list_self_hosted_runners_for_org("acme").parsed_data
    assert listed.total_count == 1
    one = org.get_self_hosted_runner_for_org("acme", jit.runner.id).parsed_data
    assert one.name == "rv-1"
    job = org.get_job_for_workflow_run("acme", "widgets", 9001).parsed_data
    assert job.status == "queued" and job.labels == ["riscv64"]
    deleted = org.delete_self_hosted_runner_from_org("acme", jit.runner.id)
    assert deleted.status_code == 204

    repo_jit = user.generate_runner_jitconfig_for_repo("alice", "tools", data=JIT)
    runner_id = repo_jit.parsed_data.runner.id
    listed = user.list_self_hosted_runners_for_repo("alice", "tools").parsed_data
    assert listed.total_count == 1
    one = user.get_self_hosted_runner_for_repo("alice", "tools", runner_id).parsed_data
    assert one.id == runner_id
    deleted = user.delete_self_hosted_runner_from_repo("alice", "tools", runner_id)
    assert deleted.status_code == 204


def test_the_installation_token_is_fetched_once_and_reused(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    for _ in range(3):
        org.list_self_hosted_runners_for_org("acme")
    assert fake.count("POST", rf"/app/installations/{ORG_INSTALLATION}/access_tokens") == 1
    assert fake.count("GET", "/orgs/acme/actions/runners") == 3
    assert fake.calls_by_installation[ORG_INSTALLATION] == 3


def test_a_second_jit_config_for_the_same_name_answers_409(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    first = org.generate_runner_jitconfig_for_org("acme", data=JIT)
    assert first.status_code == 201
    config = fake.decode_jit(first.parsed_data.encoded_jit_config)
    assert config["runner_id"] == first.parsed_data.runner.id
    assert status_of(lambda: org.generate_runner_jitconfig_for_org("acme", data=JIT)) == 409
    assert len(fake.runners("acme")) == 1
    # The name is taken in the organization only; a repository is another scope.
    user_github = installation_client(fake, USER_INSTALLATION)
    user = user_github.rest.actions
    repo_jit = user.generate_runner_jitconfig_for_repo("alice", "tools", data=JIT)
    assert repo_jit.status_code == 201


def test_a_jit_config_for_an_unknown_runner_group_answers_404(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    bad_group = {**JIT, "runner_group_id": 99}
    jit = lambda: org.generate_runner_jitconfig_for_org("acme", data=bad_group)  # noqa: E731
    assert status_of(jit) == 404
    assert fake.runners() == []


def test_a_runner_group_name_can_be_used_once(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    org.create_self_hosted_runner_group_for_org("acme", name="riscv")
    again = lambda: org.create_self_hosted_runner_group_for_org("acme", name="RISCV")  # noqa: E731
    assert status_of(again) == 409


def test_a_busy_runner_cannot_be_deleted(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    runner = org.generate_runner_jitconfig_for_org("acme", data=JIT).parsed_data.runner
    fake.set_runner("rv-1", status="online", busy=True)
    delete = lambda: org.delete_self_hosted_runner_from_org("acme", runner.id)  # noqa: E731
    assert status_of(delete) == 422
    fake.set_runner("rv-1", busy=False)
    assert org.delete_self_hosted_runner_from_org("acme", runner.id).status_code == 204
    assert fake.runner_by_name("rv-1") is None
    assert status_of(delete) == 404


def test_a_runner_that_deregistered_itself_is_gone(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    runner = org.generate_runner_jitconfig_for_org("acme", data=JIT).parsed_data.runner
    fake.add_job("acme/widgets", 9001, "in_progress", labels=["riscv64"], runner_name="rv-1")
    job = org.get_job_for_workflow_run("acme", "widgets", 9001).parsed_data
    assert (job.runner_id, job.runner_group_name) == (runner.id, "Default")
    fake.set_job(9001, status="completed", conclusion="success")
    fake.remove_runner("rv-1")
    job = org.get_job_for_workflow_run("acme", "widgets", 9001).parsed_data
    assert job.conclusion == "success" and job.completed_at is not None
    assert org.list_self_hosted_runners_for_org("acme").parsed_data.runners == []
    assert status_of(lambda: org.get_job_for_workflow_run("acme", "widgets", 1)) == 404


def test_runners_page_with_a_link_header_and_filter_by_name(fake: FakeGitHub) -> None:
    github = installation_client(fake)
    org = github.rest.actions
    for n in range(5):
        org.generate_runner_jitconfig_for_org("acme", data={**JIT, "name": f"rv-{n}"})
    first = org.list_self_hosted_runners_for_org("acme", per_page=2)
    assert first.parsed_data.total_count == 5 and len(first.parsed_data.runners) == 2
    assert 'rel="next"' in first.headers["link"] and "page=2" in first.headers["link"]
    names = [
        r.name
        for r in github.rest.paginate(
            org.list_self_hosted_runners_for_org,
            map_func=lambda response: response.parsed_data.runners,
            org="acme",
            per_page=2,
        )
    ]
    assert names == [f"rv-{n}" for n in range(5)]
    named = org.list_self_hosted_runners_for_org("acme", name="rv-3").parsed_data
    assert [r.name for r in named.runners] == ["rv-3"]


def test_an_exhausted_rate_limit_answers_403_with_the_headers(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    first = org.list_self_hosted_runners_for_org("acme")
    assert first.headers["x-ratelimit-limit"] == "5000"
    assert first.headers["x-ratelimit-remaining"] == "4999"
    assert first.headers["x-ratelimit-used"] == "1"
    assert first.headers["x-ratelimit-resource"] == "core"
    fake.set_rate_limit(ORG_INSTALLATION, remaining=0, reset_in=120)
    with pytest.raises(PrimaryRateLimitExceeded) as limited:
        org.list_self_hosted_runners_for_org("acme")
    response = limited.value.response
    assert response.status_code == 403
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time()) + 100
    message = response.json()["message"]
    assert message == f"API rate limit exceeded for installation ID {ORG_INSTALLATION}."
    assert timedelta(seconds=100) < limited.value.retry_after <= timedelta(seconds=120)
    # Another installation has its own budget.
    user_github = installation_client(fake, USER_INSTALLATION)
    user = user_github.rest.actions
    assert user.list_self_hosted_runners_for_repo("alice", "tools").status_code == 200


def test_a_secondary_limit_answers_with_retry_after(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    fake.secondary_rate_limit(
        "POST", r"/orgs/acme/actions/runners/generate-jitconfig", status=429, retry_after=30
    )
    with pytest.raises(SecondaryRateLimitExceeded) as limited:
        org.generate_runner_jitconfig_for_org("acme", data=JIT)
    assert limited.value.response.status_code == 429
    assert limited.value.retry_after == timedelta(seconds=30)
    assert fake.runners() == []  # refused before it was performed


def test_jwts_that_github_would_refuse_are_refused(fake: FakeGitHub) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = int(time.time())
    cases = {
        "forged": raw_jwt(fake, key=other_key.decode()),
        "another app": raw_jwt(fake, iss="4243"),
        "expired": raw_jwt(fake, iat=now - 700, exp=now - 100),
        "too long": raw_jwt(fake, iat=now, exp=now + 900),
        "not a jwt": "a.b.c",
    }
    messages = {}
    for case, token in cases.items():
        answer = HTTP.get(f"{fake.url}app", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, case
        messages[case] = answer.json()["message"]
    assert messages["forged"] == "A JSON web token could not be decoded"
    assert messages["another app"] == "A JSON web token could not be decoded"
    assert messages["expired"].startswith("'Expiration time' claim ('exp') must be a numeric value")
    assert messages["too long"] == "'Expiration time' claim ('exp') is too far in the future"
    # GitHub takes the issuer as a string or a number; PyJWT only encodes strings, so the
    # numeric one is signed at the JWS level.
    claims = {"iss": fake.app_id, "iat": now - 60, "exp": now + 540}
    numeric = jwt.api_jws.encode(json.dumps(claims).encode(), fake.private_key_pem, "RS256")
    answer = HTTP.get(f"{fake.url}app", headers={"Authorization": f"Bearer {numeric}"})
    assert answer.status_code == 200


def test_tokens_that_github_would_refuse_are_refused(fake: FakeGitHub) -> None:
    token = raw_token(fake)
    runners = f"{fake.url}orgs/acme/actions/runners"
    assert HTTP.get(runners, headers={"Authorization": f"token {token}"}).status_code == 200
    assert HTTP.get(runners, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    unknown = HTTP.get(runners, headers={"Authorization": "token ghs_nope"})
    assert (unknown.status_code, unknown.json()["message"]) == (401, "Bad credentials")
    fake.expire_tokens()
    assert HTTP.get(runners, headers={"Authorization": f"token {token}"}).status_code == 401
    assert HTTP.get(runners).status_code == 401


def test_each_credential_works_only_where_github_accepts_it(fake: FakeGitHub) -> None:
    token = raw_token(fake)
    app_with_token = HTTP.get(f"{fake.url}app", headers={"Authorization": f"token {token}"})
    assert (app_with_token.status_code, app_with_token.json()["message"]) == (
        401,
        "A JSON web token could not be decoded",
    )
    runners_with_jwt = HTTP.get(
        f"{fake.url}orgs/acme/actions/runners", headers={"Authorization": f"Bearer {raw_jwt(fake)}"}
    )
    assert runners_with_jwt.status_code == 403


def test_an_installation_reaches_only_its_own_account(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    assert status_of(lambda: org.list_self_hosted_runners_for_org("other")) == 403
    assert status_of(lambda: org.list_self_hosted_runners_for_repo("alice", "tools")) == 404
    assert status_of(lambda: org.list_self_hosted_runners_for_repo("acme", "secret")) == 404
    user_github = installation_client(fake, USER_INSTALLATION)
    user = user_github.rest.actions
    assert status_of(lambda: user.list_self_hosted_runners_for_org("alice")) == 403
    app = app_client(fake)
    assert status_of(lambda: app.rest.apps.get_org_installation("other")) == 404
    assert status_of(lambda: app.rest.apps.get_repo_installation("acme", "secret")) == 404
    assert status_of(lambda: app.rest.apps.get_user_installation("acme")) == 404
    assert status_of(lambda: app.rest.apps.get_installation(99)) == 404


def test_githubkit_validates_bodies_before_sending(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    with pytest.raises(pydantic.ValidationError):
        org.generate_runner_jitconfig_for_org("acme", data={**JIT, "labels": []})
    assert fake.count("POST", r".*generate-jitconfig") == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({**JIT, "labels": []}, "For 'properties/labels', [] should have at least 1 item(s)."),
        ({**JIT, "labels": [f"l{n}" for n in range(101)]}, "should have at most 100 item(s)."),
        ({**JIT, "runner_group_id": "1"}, "'properties/runner_group_id', \"1\" is not an integer."),
        ({"name": "rv-1", "labels": ["x"]}, '"runner_group_id" wasn\'t supplied.'),
    ],
)
def test_a_body_that_fails_the_schema_answers_422(
    fake: FakeGitHub, body: dict[str, object], detail: str
) -> None:
    answer = HTTP.post(
        f"{fake.url}orgs/acme/actions/runners/generate-jitconfig",
        headers={"Authorization": f"token {raw_token(fake)}"},
        json=body,
    )
    assert answer.status_code == 422
    message = answer.json()["message"]
    assert message.startswith("Invalid request.\n\n") and detail in message
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")
    assert fake.runners() == []


def test_unparsable_json_answers_400(fake: FakeGitHub) -> None:
    answer = HTTP.post(
        f"{fake.url}orgs/acme/actions/runners/generate-jitconfig",
        headers={"Authorization": f"token {raw_token(fake)}", "Content-Type": "application/json"},
        content=b"{nope",
    )
    assert (answer.status_code, answer.json()["message"]) == (400, "Problems parsing JSON")


def test_unknown_routes_answer_githubs_404(fake: FakeGitHub) -> None:
    routes = [("GET", "nope"), ("DELETE", "app"), ("PATCH", "orgs/acme/actions/runners")]
    for method, path in routes:
        answer = HTTP.request(method, f"{fake.url}{path}")
        assert answer.status_code == 404
        assert answer.json()["message"] == "Not Found"
        assert "x-ratelimit-limit" in answer.headers


def test_a_reply_lost_after_the_jit_call_then_a_retry_sees_409(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    fake.fail("POST", r"/orgs/acme/actions/runners/generate-jitconfig", 502, after=True)
    jit = lambda: org.generate_runner_jitconfig_for_org("acme", data=JIT)  # noqa: E731
    assert status_of(jit) == 502
    assert fake.runner_by_name("rv-1") is not None  # performed all the same
    assert status_of(jit) == 409


def test_a_dropped_connection_raises_request_error(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    fake.fail("GET", r"/orgs/acme/actions/runners", drop=True)
    with pytest.raises(RequestError) as dropped:
        org.list_self_hosted_runners_for_org("acme")
    assert not isinstance(dropped.value, RequestFailed)
    assert isinstance(dropped.value.exc, httpx.RemoteProtocolError)
    assert org.list_self_hosted_runners_for_org("acme").status_code == 200
    assert fake.calls[-2][2] == 0  # recorded with no status: nothing was answered


def test_auto_retry_off_means_one_attempt_even_for_5xx(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    org.list_self_hosted_runners_for_org("acme")
    fake.fail("GET", r"/orgs/acme/actions/runners", 503, times=2)
    assert status_of(lambda: org.list_self_hosted_runners_for_org("acme")) == 503
    assert fake.count("GET", "/orgs/acme/actions/runners") == 2


def test_a_failed_token_fetch_surfaces_as_request_error(fake: FakeGitHub) -> None:
    # githubkit fetches the token inside httpx's auth flow, and wraps whatever the send
    # raises: the 401 arrives as RequestError whose .exc is the RequestFailed.
    org_github = installation_client(fake, installation_id=99)
    org = org_github.rest.actions
    with pytest.raises(RequestError) as failure:
        org.list_self_hosted_runners_for_org("acme")
    assert isinstance(failure.value.exc, RequestFailed)
    assert failure.value.exc.response.status_code == 404


def test_a_token_the_fake_expired_early_is_not_refetched_by_githubkit(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    org.list_self_hosted_runners_for_org("acme")
    fake.expire_tokens()  # GitHub revoking a token before its expires_at
    assert status_of(lambda: org.list_self_hosted_runners_for_org("acme")) == 401
    assert fake.count("POST", r"/app/installations/\d+/access_tokens") == 1


def test_githubkits_http_cache_revalidates_and_sees_changes(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    org.generate_runner_jitconfig_for_org("acme", data=JIT)
    first = org.list_self_hosted_runners_for_org("acme").parsed_data
    again = org.list_self_hosted_runners_for_org("acme").parsed_data
    assert fake.calls[-1][2] == 304 and again == first  # revalidated, served from the cache
    fake.set_runner("rv-1", status="online", busy=True)
    changed = org.list_self_hosted_runners_for_org("acme").parsed_data
    assert (changed.runners[0].status, changed.runners[0].busy) == ("online", True)


def test_webhook_deliveries_page_by_cursor_and_redeliver(fake: FakeGitHub) -> None:
    app = app_client(fake)
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    for n in range(5):
        fake.add_delivery(f"g-{n}", "workflow_job", "queued", 200 if n != 3 else 500,
                          start + timedelta(minutes=n), ORG_INSTALLATION, 501)
    first = app.rest.apps.list_webhook_deliveries(per_page=2)
    assert [d.guid for d in first.parsed_data] == ["g-4", "g-3"]
    assert "cursor=v1_" in first.headers["link"] and 'rel="next"' in first.headers["link"]
    everything = list(app.rest.paginate(app.rest.apps.list_webhook_deliveries, per_page=2))
    assert [d.guid for d in everything] == ["g-4", "g-3", "g-2", "g-1", "g-0"]
    failed = [d for d in everything if d.status_code >= 400]
    assert [d.status for d in failed] == ["Invalid HTTP Response: 500"]
    answer = app.rest.apps.redeliver_webhook_delivery(failed[0].id)
    assert answer.status_code == 202
    assert fake.redeliveries == [failed[0].id]
    newest = app.rest.apps.list_webhook_deliveries(per_page=1).parsed_data[0]
    assert (newest.guid, newest.redelivery, newest.status_code) == ("g-3", True, 200)
    assert status_of(lambda: app.rest.apps.redeliver_webhook_delivery(1)) == 404


def test_a_redis_cache_strategy_keeps_the_jwt_and_token_under_githubkits_keys(
    fake: FakeGitHub, redis_server: RedisServer
) -> None:
    # Binary replies: githubkit's HTTP cache (hishel) stores pickled bytes in the same Redis
    # and fails with UnicodeDecodeError on a decode_responses=True client.
    redis_client = redis.Redis.from_url(redis_server.url)
    cache = RedisCacheStrategy(redis_client, prefix="runnerhub:test")
    app = app_client(fake, cache_strategy=cache)
    installation = AppInstallationAuthStrategy(fake.app_id, fake.private_key_pem, ORG_INSTALLATION)
    org = app.with_auth(installation)
    org.rest.actions.list_self_hosted_runners_for_org("acme")
    jwt_key = f"runnerhub:test:githubkit:auth:app:{fake.app_id}:jwt"
    # installation:{id}:{permissions}:{repositories}:{repository_ids}, all empty here
    token_key = f"runnerhub:test:githubkit:auth:app:{fake.app_id}:installation:7:::"
    assert redis_client.exists(jwt_key) and redis_client.exists(token_key)
    assert 0 < redis_client.ttl(jwt_key) <= 8 * 60
    assert fake.token_ttl - 120 < redis_client.ttl(token_key) <= fake.token_ttl - 60
    # A second client on the same Redis reuses the token: no second token request.
    again = app_client(fake, cache_strategy=cache).with_auth(installation)
    again.rest.actions.list_self_hosted_runners_for_org("acme")
    assert fake.count("POST", r"/app/installations/\d+/access_tokens") == 1
    # githubkit's HTTP cache (hishel) keeps GET answers there too, expiring within 3780 s.
    hishel_keys = [k for k in redis_client.keys("runnerhub:test:*") if b":githubkit:" not in k]
    assert {k.split(b":")[2] for k in hishel_keys} == {b"entry", b"idx", b"stream", b"stream_done"}
    assert all(0 < redis_client.ttl(k) <= 3600 + 180 for k in hishel_keys)


def test_the_encoded_jit_config_names_its_runner(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    jit = org.generate_runner_jitconfig_for_org("acme", data={**JIT, "work_folder": "_w"})
    config = fake.decode_jit(jit.parsed_data.encoded_jit_config)
    assert config == json.loads(base64.b64decode(jit.parsed_data.encoded_jit_config))
    assert (config["runner_name"], config["scope"]) == ("rv-1", "acme")
    assert (config["labels"], config["work_folder"]) == (["riscv64"], "_w")


def test_an_injected_fault_still_carries_rate_limit_headers(fake: FakeGitHub) -> None:
    org_github = installation_client(fake)
    org = org_github.rest.actions
    org.list_self_hosted_runners_for_org("acme")
    fake.fail("GET", r"/orgs/acme/actions/runners", 500)
    with pytest.raises(RequestFailed) as failure:
        org.list_self_hosted_runners_for_org("acme")
    headers = failure.value.response.headers
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]) == ("4999", "1")
    assert failure.value.response.json()["message"] == "Server Error"


def test_githubkit_refetches_a_token_that_lives_under_a_minute() -> None:
    # githubkit caches a token until one minute before expires_at; a shorter life caches
    # nothing (MemCacheStrategy) or fails the request (RedisCacheStrategy: negative EX).
    with FakeGitHub(token_ttl=30) as fake:
        fake.add_installation(ORG_INSTALLATION, "acme", 1001)
        org_github = installation_client(fake)
        for _ in range(2):
            org_github.rest.actions.list_self_hosted_runners_for_org("acme")
        assert fake.count("POST", r"/app/installations/\d+/access_tokens") == 2
