"""A strict fake of the GitHub REST API, for driving the real githubkit client in tests.

The scheduler talks to GitHub through githubkit with GitHub App auth; pointed at
`FakeGitHub.url` it cannot tell the difference in the parts RunnerHub uses: App JWTs and
installation tokens, installations, webhook deliveries, runner groups, just-in-time runners,
self-hosted runners and workflow jobs. Strictness is the point: every request body is
validated against githubkit's own request model (generated from GitHub's OpenAPI
description) and every answer is built so that githubkit's response model parses it, so a
test that passes here fails here for the same reasons it would fail against GitHub.

Where GitHub's documentation does not spell out an answer (the exact wording of a 409 or a
busy-runner 422), the fake uses the status GitHub is known to send and a message of the same
shape; tests should assert statuses, not wording.

Usage:

    with FakeGitHub() as fake:
        fake.add_installation(7, "acme", 1001)
        app = GitHub(AppAuthStrategy(fake.app_id, fake.private_key_pem),
                     base_url=fake.url, auto_retry=False, cache_strategy=MemCacheStrategy())
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
import secrets
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pydantic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit_schemas.latest import models

from harness.fake_holds import Holds
from harness.webhook_client import TEST_SECRET, json_delivery_headers

DOCS = "https://docs.github.com/rest"
RUNNERS_DOCS = "https://docs.github.com/rest/actions/self-hosted-runners"
RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
)
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
HOOK_URL = "https://runnerhub.example/webhooks/github"
# The versions GitHub accepts in X-GitHub-Api-Version; githubkit 0.16.1 sends the newer one.
API_VERSIONS = ("2022-11-28", "2026-03-10")
# What a JWT may look like: GitHub allows at most ten minutes of life and tolerates clock
# drift, which is why githubkit backdates `iat` by a minute.
JWT_MAX_LIFETIME = 600
CLOCK_SKEW = 60
UNAUTHENTICATED_LIMIT = 60

# The status messages GitHub sends with its own errors, for injected faults.
FAULT_MESSAGES = {
    400: "Bad Request",
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    429: SECONDARY_LIMIT_MESSAGE,
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubError(Exception):
    """An answer GitHub gives as an error: status, message and optional extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }


def _not_found(documentation_url: str = DOCS) -> GitHubError:
    return GitHubError(404, "Not Found", documentation_url)


@dataclass
class _Installation:
    id: int
    login: str
    account_id: int
    account_type: str
    repositories: dict[str, int]  # full name (lower case) -> repository id
    created_at: float

    @property
    def selection(self) -> str:
        # Without a list the installation covers every repository of the account.
        return "selected" if self.repositories else "all"

    def covers_repo(self, owner: str, repo: str) -> bool:
        if owner.lower() != self.login.lower():
            return False
        return not self.repositories or f"{owner}/{repo}".lower() in self.repositories

    def permissions(self) -> dict[str, str]:
        perms = {"actions": "read", "administration": "write", "metadata": "read"}
        if self.account_type == "Organization":
            perms["organization_self_hosted_runners"] = "write"
        return perms


@dataclass
class _Token:
    installation_id: int
    expires_at: float
    repositories: frozenset[str] | None  # None: every repository of the installation


@dataclass
class _Bucket:
    limit: int
    remaining: int
    reset: int

    def refill_if_due(self, now: float) -> None:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = int(now) + 3600

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.limit - self.remaining),
            "x-ratelimit-resource": "core",
        }


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    after: bool
    headers: dict[str, str]
    drop: bool
    message: str


@dataclass
class _Auth:
    """Who is calling: the app (JWT), an installation (token), or nobody."""

    kind: str  # "app", "installation", "none"
    installation: _Installation | None = None
    token: _Token | None = None
    error: GitHubError | None = None


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    match: dict[str, str]
    auth: _Auth


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Request], _Answer]
    auth: str  # "app" or "installation"
    docs: str


class FakeGitHub:
    """A GitHub REST API on 127.0.0.1 for one GitHub App, with controls for tests.

    State (installations, runners, jobs, deliveries, tokens, rate limits) lives in memory and
    is guarded by one lock, so controls and requests may interleave from any thread.
    """

    def __init__(self, app_id: int = 4242, token_ttl: int = 3600, rate_limit: int = 5000) -> None:
        self.app_id = app_id
        self.token_ttl = token_ttl
        self.rate_limit = rate_limit
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem: str = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        self._public_key = key.public_key()
        self._lock = threading.RLock()
        self._installations: dict[int, _Installation] = {}
        self._tokens: dict[str, _Token] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._runner_groups: dict[str, list[dict[str, Any]]] = {}  # org (lower) -> groups
        self._runners: dict[int, dict[str, Any]] = {}
        self._runner_scope: dict[int, str] = {}  # runner id -> "org" or "owner/repo" (lower)
        self._jobs: dict[int, dict[str, Any]] = {}
        self._job_repo: dict[int, str] = {}
        self._deliveries: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        # Requests held at a step, for tests that kill the client there (see harness.fake_holds).
        self.holds = Holds()
        self._ids = iter(range(100_000, 10**9))
        self.redelivery_status_code = 200
        # Where the App's webhook delivers (body, headers) -> HTTP status, 0 for no answer; None:
        # deliveries are only recorded, and redeliveries answered `redelivery_status_code`.
        self.hook: Callable[[bytes, dict[str, str]], int] | None = None
        self.hook_secret = TEST_SECRET
        # The share of API calls answered 502 before they are performed, at random (chaos runs).
        self.bad_gateway_rate = 0.0
        self._random = random.Random(4242)
        self.calls: list[tuple[str, str, int]] = []
        self.calls_by_installation: Counter[int] = Counter()
        self.redeliveries: list[int] = []
        self.errors: list[str] = []  # exceptions inside the fake: a test should see none
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        """Listen on a free loopback port in a daemon thread; returns self."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval: stop() waits up to one interval for serve_forever to notice.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API root, with a trailing slash: githubkit's `base_url`."""
        if self._server is None:
            raise RuntimeError("FakeGitHub is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    # ---- setup controls ----------------------------------------------------------------

    def add_installation(
        self,
        installation_id: int,
        account_login: str,
        account_id: int,
        account_type: str = "Organization",
        repositories: Iterable[tuple[int, str]] = (),
    ) -> None:
        """Install the app on an account. `repositories` are (id, "owner/name") pairs; none
        means the installation covers all of the account's repositories. An organization
        gets the `Default` runner group (id 1)."""
        if account_type not in ("Organization", "User"):
            raise ValueError(f"account_type must be Organization or User, not {account_type!r}")
        with self._lock:
            self._installations[installation_id] = _Installation(
                installation_id,
                account_login,
                account_id,
                account_type,
                {name.lower(): repo_id for repo_id, name in repositories},
                time.time(),
            )
            if account_type == "Organization":
                self._runner_groups.setdefault(
                    account_login.lower(), [self._group(account_login, 1, "Default", True)]
                )

    def add_delivery(
        self,
        guid: str,
        event: str,
        action: str | None,
        status_code: int,
        delivered_at: datetime | float,
        installation_id: int | None,
        repository_id: int | None,
        redelivery: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> int:
        """Record a webhook delivery the app's hook made; returns its delivery id."""
        when = delivered_at.timestamp() if isinstance(delivered_at, datetime) else delivered_at
        with self._lock:
            delivery_id = next(self._ids)
            self._deliveries.append(
                {
                    "id": delivery_id,
                    "guid": guid,
                    "delivered_at": when,
                    "redelivery": redelivery,
                    "duration": 0.05,
                    "status_code": status_code,
                    "event": event,
                    "action": action,
                    "installation_id": installation_id,
                    "repository_id": repository_id,
                    "payload": payload or {},
                }
            )
            return delivery_id

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery, oldest first, as GitHub lists them (redeliveries included)."""
        with self._lock:
            return [self._delivery_item(d) for d in self._deliveries]

    def set_rate_limit(self, installation_id: int, remaining: int, reset_in: int = 3600) -> None:
        """Set an installation's remaining core requests, refilled `reset_in` seconds on."""
        with self._lock:
            bucket = self._bucket(f"installation:{installation_id}")
            bucket.remaining = remaining
            bucket.reset = int(time.time()) + reset_in

    def expire_tokens(self) -> None:
        """Make every installation token issued so far expire now (as after `token_ttl`)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, time.time() - 1)

    # ---- runner and job simulation ---------------------------------------------------

    def runners(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Registered runners as GitHub shows them, in id order; `scope` is an organization
        login or an "owner/repo" full name."""
        with self._lock:
            return [
                copy.deepcopy(r)
                for rid, r in sorted(self._runners.items())
                if scope is None or self._runner_scope[rid] == scope.lower()
            ]

    def runner_by_name(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            for runner in self._runners.values():
                if runner["name"] == name:
                    return copy.deepcopy(runner)
            return None

    def set_runner(self, name: str, status: str | None = None, busy: bool | None = None) -> None:
        """Change what a runner reports: "online"/"offline", busy with a job or idle."""
        with self._lock:
            runner = self._runner_named(name)
            if status is not None:
                if status not in ("online", "offline"):
                    raise ValueError(f"status must be online or offline, not {status!r}")
                runner["status"] = status
            if busy is not None:
                runner["busy"] = busy

    def remove_runner(self, name: str) -> None:
        """Deregister a runner as an ephemeral runner does itself after its job."""
        with self._lock:
            runner = self._runner_named(name)
            del self._runners[runner["id"]]
            del self._runner_scope[runner["id"]]

    def add_job(
        self,
        repo_full_name: str,
        job_id: int,
        status: str,
        conclusion: str | None = None,
        labels: Iterable[str] = (),
        runner_name: str | None = None,
        run_id: int | None = None,
        name: str = "build",
        workflow_name: str = "CI",
        head_branch: str = "main",
    ) -> None:
        """Add a workflow job of a repository, as GET .../actions/jobs/{job_id} shows it."""
        owner, repo = repo_full_name.split("/")
        run_id = run_id if run_id is not None else job_id // 10 or 1
        now = time.time()
        api = f"{self.url}repos/{owner}/{repo}/actions"
        job = {
            "id": job_id,
            "run_id": run_id,
            "run_url": f"{api}/runs/{run_id}",
            "run_attempt": 1,
            "node_id": f"CR_{job_id}",
            "head_sha": hashlib.sha1(str(job_id).encode()).hexdigest(),
            "url": f"{api}/jobs/{job_id}",
            "html_url": f"https://github.com/{owner}/{repo}/actions/runs/{run_id}/job/{job_id}",
            "status": status,
            "conclusion": conclusion,
            "created_at": _iso(now),
            "started_at": _iso(now),
            "completed_at": _iso(now) if status == "completed" else None,
            "name": name,
            "steps": [],
            "check_run_url": f"{self.url}repos/{owner}/{repo}/check-runs/{job_id}",
            "labels": list(labels),
            "runner_id": None,
            "runner_name": None,
            "runner_group_id": None,
            "runner_group_name": None,
            "workflow_name": workflow_name,
            "head_branch": head_branch,
        }
        models.Job.model_validate(job)  # a bad status or conclusion fails here, not in a test
        with self._lock:
            self._jobs[job_id] = job
            self._job_repo[job_id] = repo_full_name.lower()
            if runner_name is not None:
                self._assign_runner(job, runner_name)

    def set_job(self, job_id: int, **fields: Any) -> None:
        """Change a job's fields (status, conclusion, runner_name, labels, ...). Setting
        `runner_name` also fills runner_id and the runner's group, as GitHub does."""
        with self._lock:
            job = self._jobs[job_id]
            unknown = set(fields) - set(job)
            if unknown:
                raise KeyError(f"jobs have no field(s) {sorted(unknown)}")
            runner_name = fields.pop("runner_name", None)
            job.update(fields)
            if job["status"] == "completed" and job["completed_at"] is None:
                job["completed_at"] = _iso(time.time())
            if runner_name is not None:
                self._assign_runner(job, runner_name)
            models.Job.model_validate(job)

    def remove_job(self, job_id: int) -> None:
        """GitHub forgets a job (its run was deleted): GET .../actions/jobs/{id} answers 404."""
        with self._lock:
            del self._jobs[job_id]
            del self._job_repo[job_id]

    def decode_jit(self, encoded: str) -> dict[str, Any]:
        """What a JIT config names: runner_id, runner_name, scope, runner_group_id, labels."""
        return json.loads(base64.b64decode(encoded))

    # ---- faults and records ----------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        times: int = 1,
        after: bool = False,
        headers: dict[str, str] | None = None,
        drop: bool = False,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose method and path (without query, matched
        in full) fit with `status` and a GitHub-shaped body. `after=True` performs the
        request first, so its effects stay: a reply lost on the way. `drop=True` closes the
        connection without any answer instead."""
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    re.compile(path_regex),
                    status,
                    times,
                    after,
                    dict(headers or {}),
                    drop,
                    message or FAULT_MESSAGES.get(status, "Server Error"),
                )
            )

    def secondary_rate_limit(
        self, method: str, path_regex: str, status: int = 403, retry_after: int = 60, times: int = 1
    ) -> None:
        """GitHub's secondary-limit answer (403 or 429 with Retry-After) for matching requests."""
        self.fail(
            method,
            path_regex,
            status,
            times,
            headers={"Retry-After": str(retry_after)},
            message=SECONDARY_LIMIT_MESSAGE,
        )

    def count(self, method: str, path_regex: str) -> int:
        """How many recorded calls fit the method and path regex (matched in full)."""
        pattern = re.compile(path_regex)
        return sum(1 for m, p, _ in self.calls if m == method.upper() and pattern.fullmatch(p))

    # ---- request handling ------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        org = r"/orgs/(?P<org>[^/]+)"
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        apps = "https://docs.github.com/rest/apps/apps"
        hooks = "https://docs.github.com/rest/apps/webhooks"
        groups = "https://docs.github.com/rest/actions/self-hosted-runner-groups"
        jobs = "https://docs.github.com/rest/actions/workflow-jobs"
        table: list[tuple[str, str, Callable[[_Request], _Answer], str, str]] = [
            ("GET", r"/app", self._get_app, "app", apps),
            ("GET", r"/app/installations/(?P<id>\d+)", self._get_installation, "app", apps),
            (
                "POST",
                r"/app/installations/(?P<id>\d+)/access_tokens",
                self._create_token,
                "app",
                apps,
            ),
            ("GET", org + "/installation", self._get_org_installation, "app", apps),
            ("GET", repo + "/installation", self._get_repo_installation, "app", apps),
            ("GET", r"/users/(?P<user>[^/]+)/installation", self._get_user_installation, "app",
             apps),
            ("GET", r"/app/hook/deliveries", self._list_deliveries, "app", hooks),
            ("GET", r"/app/hook/deliveries/(?P<id>\d+)", self._get_delivery, "app", hooks),
            ("POST", r"/app/hook/deliveries/(?P<id>\d+)/attempts", self._redeliver, "app", hooks),
            ("GET", org + "/actions/runner-groups", self._list_groups, "installation", groups),
            ("POST", org + "/actions/runner-groups", self._create_group, "installation", groups),
            (
                "POST",
                org + "/actions/runners/generate-jitconfig",
                self._generate_jit,
                "installation",
                RUNNERS_DOCS,
            ),
            (
                "POST",
                repo + "/actions/runners/generate-jitconfig",
                self._generate_jit,
                "installation",
                RUNNERS_DOCS,
            ),
            ("GET", org + "/actions/runners", self._list_runners, "installation", RUNNERS_DOCS),
            ("GET", repo + "/actions/runners", self._list_runners, "installation", RUNNERS_DOCS),
            (
                "GET",
                org + r"/actions/runners/(?P<id>\d+)",
                self._get_runner,
                "installation",
                RUNNERS_DOCS,
            ),
            (
                "GET",
                repo + r"/actions/runners/(?P<id>\d+)",
                self._get_runner,
                "installation",
                RUNNERS_DOCS,
            ),
            (
                "DELETE",
                org + r"/actions/runners/(?P<id>\d+)",
                self._delete_runner,
                "installation",
                RUNNERS_DOCS,
            ),
            (
                "DELETE",
                repo + r"/actions/runners/(?P<id>\d+)",
                self._delete_runner,
                "installation",
                RUNNERS_DOCS,
            ),
            ("GET", repo + r"/actions/jobs/(?P<job>\d+)", self._get_job, "installation", jobs),
        ]
        return [_Route(m, re.compile(p), h, a, d) for m, p, h, a, d in table]

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Answer | None:
        """Answer one request; None means drop the connection. Never raises."""
        try:
            return self._handle(method, target, headers, body)
        except Exception:  # a bug in the fake: answer like GitHub, record it for the test
            self.errors.append(traceback.format_exc())
            return _Answer(500, {"message": "Server Error", "documentation_url": DOCS}, {})

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Answer | None:
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        hold = self.holds.take(method, path)
        if hold is not None and not hold.after and not hold.wait():
            return None  # dropped before it was performed
        with self._lock:
            answer = self._answer(method, path, query, headers, body)
            self.calls.append((method, path, 0 if answer is None else answer.status))
        if hold is not None and hold.after:
            hold.wait()
        return answer

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Answer | None:
        fault = self._take_fault(method, path)
        if fault is None and self.bad_gateway_rate and self._random.random() < self.bad_gateway_rate:
            fault = _Fault(method, re.compile(re.escape(path)), 502, 1, False, {}, False,
                           FAULT_MESSAGES.get(502, "Server Error"))  # fmt: skip
        if fault is not None and not fault.after:
            # Refused before it was performed: nothing spent, but the usual headers.
            bucket = self._bucket_for(self._authenticate(headers.get("authorization", "")))
            bucket = bucket or self._bucket("unauthenticated", UNAUTHENTICATED_LIMIT)
            return None if fault.drop else self._fault_answer(fault, bucket.headers())

        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            answer = _Answer(
                400,
                {
                    "message": f"Unsupported 'X-GitHub-Api-Version' header value: {version}.",
                    "documentation_url": f"{DOCS}/about-the-rest-api/api-versions",
                },
            )
            return self._finish(answer, None, fault)

        route, match = self._route(method, path)
        if route is None:
            return self._finish(self._error_answer(_not_found()), None, fault)

        auth = self._authenticate(headers.get("authorization", ""))
        bucket = self._bucket_for(auth)
        try:
            if auth.error is not None:
                raise auth.error
            if auth.kind == "none":
                raise GitHubError(401, "Requires authentication", route.docs)
            self._check_kind(route, auth)
            assert bucket is not None
            bucket.refill_if_due(time.time())
            if bucket.remaining <= 0:
                raise GitHubError(403, self._limit_message(auth), RATE_LIMIT_DOCS)
            request = _Request(method, path, query, body, match, auth)
            answer = route.handler(request)
        except GitHubError as error:
            if not error.documentation_url or error.documentation_url == DOCS:
                error.documentation_url = route.docs if error.status != 401 else DOCS
            answer = self._error_answer(error)
        answer = self._conditional(method, answer, headers)
        spends = answer.status != 304 and not (
            answer.status == 403 and bucket is not None and bucket.remaining <= 0
        )
        if bucket is not None and spends and auth.kind != "none" and auth.error is None:
            bucket.remaining = max(0, bucket.remaining - 1)
        if auth.installation is not None:
            self.calls_by_installation[auth.installation.id] += 1
        return self._finish(answer, bucket, fault)

    def _finish(
        self, answer: _Answer, bucket: _Bucket | None, fault: _Fault | None
    ) -> _Answer | None:
        if bucket is None:
            bucket = self._bucket("unauthenticated", UNAUTHENTICATED_LIMIT)
            bucket.refill_if_due(time.time())
        answer.headers = {**bucket.headers(), **answer.headers}
        if fault is not None:  # performed, then the reply is lost or replaced
            return None if fault.drop else self._fault_answer(fault, answer.headers)
        return answer

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.times > 0 and fault.path.fullmatch(path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: _Fault, headers: dict[str, str] | None = None) -> _Answer:
        error = GitHubError(fault.status, fault.message)
        return _Answer(fault.status, error.body(), {**(headers or {}), **fault.headers})

    def _route(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method and (m := route.pattern.fullmatch(path)):
                return route, m.groupdict()
        return None, {}

    def _error_answer(self, error: GitHubError) -> _Answer:
        return _Answer(error.status, error.body(), dict(error.headers))

    def _conditional(self, method: str, answer: _Answer, headers: dict[str, str]) -> _Answer:
        """GET answers carry GitHub's caching headers and an ETag; a matching If-None-Match
        gets 304, which GitHub does not count against the rate limit. githubkit's HTTP cache
        (hishel) revalidates every request, so this is the path it takes."""
        if method != "GET" or answer.status != 200:
            return answer
        etag = 'W/"' + hashlib.sha256(_dump(answer.body)).hexdigest() + '"'
        answer.headers.update(
            {
                "ETag": etag,
                "Cache-Control": "private, max-age=60, s-maxage=60",
                "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            }
        )
        if headers.get("if-none-match") == etag:
            return _Answer(304, None, answer.headers)
        return answer

    # ---- auth ------------------------------------------------------------------------

    def _authenticate(self, header: str) -> _Auth:
        scheme, _, credential = header.partition(" ")
        scheme = scheme.lower()
        credential = credential.strip()
        if not header:
            return _Auth("none")
        if scheme not in ("bearer", "token") or not credential:
            return _Auth("none", error=GitHubError(401, "Bad credentials"))
        if scheme == "bearer" and credential.count(".") == 2:
            return self._verify_jwt(credential)
        token = self._tokens.get(credential)
        if token is None or token.expires_at <= time.time():
            return _Auth("none", error=GitHubError(401, "Bad credentials"))
        installation = self._installations.get(token.installation_id)
        if installation is None:  # uninstalled since the token was issued
            return _Auth("none", error=GitHubError(401, "Bad credentials"))
        return _Auth("installation", installation, token)

    def _verify_jwt(self, credential: str) -> _Auth:
        undecodable = GitHubError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return _Auth("none", error=undecodable)
        now = time.time()
        iss, iat, exp = claims.get("iss"), claims.get("iat"), claims.get("exp")
        if str(iss) != str(self.app_id):
            # GitHub looks the key up by issuer; another app's key cannot verify this one.
            return _Auth("none", error=undecodable)
        if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW:
            return _Auth(
                "none",
                error=GitHubError(
                    401,
                    "'Issued at' claim ('iat') must be an Integer representing the time "
                    "that the assertion was issued",
                ),
            )
        if not isinstance(exp, int | float) or exp <= now:
            return _Auth(
                "none",
                error=GitHubError(
                    401,
                    "'Expiration time' claim ('exp') must be a numeric value representing "
                    "the future time at which the assertion expires",
                ),
            )
        if exp - iat > JWT_MAX_LIFETIME or exp > now + JWT_MAX_LIFETIME + CLOCK_SKEW:
            return _Auth(
                "none",
                error=GitHubError(401, "'Expiration time' claim ('exp') is too far in the future"),
            )
        return _Auth("app")

    def _check_kind(self, route: _Route, auth: _Auth) -> None:
        if route.auth == "app" and auth.kind != "app":
            # An installation token on an app endpoint: GitHub tries to read it as a JWT.
            raise GitHubError(401, "A JSON web token could not be decoded", DOCS)
        if route.auth == "installation" and auth.kind != "installation":
            # The app itself owns no organization resources.
            raise GitHubError(403, "Resource not accessible by integration", route.docs)

    def _bucket(self, key: str, limit: int | None = None) -> _Bucket:
        if key not in self._buckets:
            limit = self.rate_limit if limit is None else limit
            self._buckets[key] = _Bucket(limit, limit, int(time.time()) + 3600)
        return self._buckets[key]

    def _bucket_for(self, auth: _Auth) -> _Bucket | None:
        if auth.kind == "app":
            return self._bucket("app")
        if auth.installation is not None:
            return self._bucket(f"installation:{auth.installation.id}")
        return None

    def _limit_message(self, auth: _Auth) -> str:
        if auth.installation is not None:
            return f"API rate limit exceeded for installation ID {auth.installation.id}."
        return f"API rate limit exceeded for app ID {self.app_id}."

    # ---- scope checks ----------------------------------------------------------------

    def _scope(self, request: _Request) -> str:
        """The runner scope a request addresses, after checking the token may reach it."""
        inst = request.auth.installation
        assert inst is not None
        if "org" in request.match:
            org = request.match["org"]
            if org.lower() != inst.login.lower() or inst.account_type != "Organization":
                raise GitHubError(403, "Resource not accessible by integration")
            return org.lower()
        owner, repo = request.match["owner"], request.match["repo"]
        full = f"{owner}/{repo}".lower()
        token = request.auth.token
        allowed = inst.covers_repo(owner, repo) and (
            token is None or token.repositories is None or full in token.repositories
        )
        if not allowed:
            raise _not_found()
        return full

    # ---- app endpoints ---------------------------------------------------------------

    def _get_app(self, request: _Request) -> _Answer:
        now = _iso(time.time() - 86400)
        body = {
            "id": self.app_id,
            "slug": "runnerhub-test",
            "node_id": f"A_{self.app_id}",
            "client_id": f"Iv1.{self.app_id:016x}",
            "owner": self._account("runnerhub", 1, "Organization"),
            "name": "RunnerHub (test)",
            "description": "Ephemeral RISC-V runners",
            "external_url": "https://runnerhub.example",
            "html_url": "https://github.com/apps/runnerhub-test",
            "created_at": now,
            "updated_at": now,
            "permissions": {"actions": "read", "administration": "write", "metadata": "read",
                            "organization_self_hosted_runners": "write"},
            "events": ["workflow_job"],
            "installations_count": len(self._installations),
        }
        return _Answer(200, body)

    def _get_installation(self, request: _Request) -> _Answer:
        inst = self._installations.get(int(request.match["id"]))
        if inst is None:
            raise _not_found()
        return _Answer(200, self._installation_body(inst))

    def _create_token(self, request: _Request) -> _Answer:
        inst = self._installations.get(int(request.match["id"]))
        if inst is None:
            raise _not_found()
        data = self._validate(request, models.AppInstallationsInstallationIdAccessTokensPostBody)
        names = {n.lower() for n in (data.repositories or ())}
        by_id = {v: k for k, v in inst.repositories.items()}
        for repo_id in data.repository_ids or ():
            if repo_id not in by_id:
                raise GitHubError(
                    422, "The list of repository IDs contains at least one ID that is not "
                    "accessible by this installation"
                )
            names.add(by_id[repo_id])
        for name in names:
            owner, _, repo = name.rpartition("/")
            if not inst.covers_repo(owner or inst.login, repo):
                raise GitHubError(
                    422, "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation."
                )
        names = {n if "/" in n else f"{inst.login}/{n}".lower() for n in names}
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = time.time() + self.token_ttl
        self._tokens[token] = _Token(inst.id, expires, frozenset(names) if names else None)
        body = {
            "token": token,
            "expires_at": _iso(expires),
            "permissions": inst.permissions(),
            "repository_selection": "selected" if names else inst.selection,
        }
        return _Answer(201, body)

    def _get_org_installation(self, request: _Request) -> _Answer:
        return self._installation_for(request.match["org"], "Organization")

    def _get_user_installation(self, request: _Request) -> _Answer:
        return self._installation_for(request.match["user"], "User")

    def _get_repo_installation(self, request: _Request) -> _Answer:
        owner, repo = request.match["owner"], request.match["repo"]
        for inst in self._installations.values():
            if inst.covers_repo(owner, repo):
                return _Answer(200, self._installation_body(inst))
        raise _not_found()

    def _installation_for(self, login: str, account_type: str) -> _Answer:
        for inst in self._installations.values():
            if inst.login.lower() == login.lower() and inst.account_type == account_type:
                return _Answer(200, self._installation_body(inst))
        raise _not_found()

    def _list_deliveries(self, request: _Request) -> _Answer:
        per_page = _int(request.query.get("per_page"), 30, 1, 100)
        status = request.query.get("status")
        newest_first = sorted(self._deliveries, key=lambda d: d["id"], reverse=True)
        if status in ("success", "failure"):
            newest_first = [d for d in newest_first if _delivered_ok(d) == (status == "success")]
        cursor = request.query.get("cursor")
        if cursor:
            if not re.fullmatch(r"v1_\d+", cursor):
                raise GitHubError(400, "Invalid cursor")
            before = int(cursor[3:])
            newest_first = [d for d in newest_first if d["id"] < before]
        page = newest_first[:per_page]
        headers = {}
        if len(newest_first) > per_page:
            params = {"per_page": per_page, "cursor": f"v1_{page[-1]['id']}"}
            if status:
                params["status"] = status
            headers["Link"] = f'<{self.url}app/hook/deliveries?{urlencode(params)}>; rel="next"'
        return _Answer(200, [self._delivery_item(d) for d in page], headers)

    def _get_delivery(self, request: _Request) -> _Answer:
        delivery = self._delivery(int(request.match["id"]))
        item = self._delivery_item(delivery)
        item["url"] = HOOK_URL
        item["request"] = {
            "headers": {
                "X-GitHub-Delivery": delivery["guid"],
                "X-GitHub-Event": delivery["event"],
                "Content-Type": "application/json",
            },
            "payload": delivery["payload"],
        }
        item["response"] = {"headers": {"Content-Type": "text/plain"}, "payload": ""}
        return _Answer(200, item)

    def send_hook(self, event: str, payload: dict[str, Any], lost: bool = False) -> tuple[str, int]:
        """The App's webhook delivers `payload` to `hook` as GitHub does (signed with
        `hook_secret`) and records the attempt; `lost`: it never arrives (no answer). Returns
        the delivery's guid and the status it got."""
        guid = str(uuid.uuid4())
        status = 0 if lost else self._post_hook(event, guid, payload)
        repository = payload.get("repository") or {}
        self.add_delivery(
            guid, event, payload.get("action"), status, time.time(),
            (payload.get("installation") or {}).get("id"), repository.get("id"), payload=payload,
        )  # fmt: skip
        return guid, status

    def _post_hook(self, event: str, guid: str, payload: dict[str, Any]) -> int:
        assert self.hook is not None
        body = json.dumps(payload).encode()
        headers = {
            **json_delivery_headers(body, event, self.hook_secret),
            "X-GitHub-Delivery": guid,
            "User-Agent": "GitHub-Hookshot/fake",
        }
        try:
            return self.hook(body, headers)
        except Exception:  # GitHub records a delivery that got no answer as failed
            return 0

    def _redeliver(self, request: _Request) -> _Answer:
        original = self._delivery(int(request.match["id"]))
        self.redeliveries.append(original["id"])
        status = (
            self._post_hook(original["event"], original["guid"], original["payload"])
            if self.hook is not None
            else self.redelivery_status_code
        )
        self.add_delivery(
            original["guid"],
            original["event"],
            original["action"],
            status,
            time.time(),
            original["installation_id"],
            original["repository_id"],
            redelivery=True,
            payload=original["payload"],
        )
        return _Answer(202, {})

    def _delivery(self, delivery_id: int) -> dict[str, Any]:
        for delivery in self._deliveries:
            if delivery["id"] == delivery_id:
                return delivery
        raise _not_found()

    def _delivery_item(self, d: dict[str, Any]) -> dict[str, Any]:
        ok = _delivered_ok(d)
        return {
            "id": d["id"],
            "guid": d["guid"],
            "delivered_at": _iso(d["delivered_at"]),
            "redelivery": d["redelivery"],
            "duration": d["duration"],
            "status": "OK" if ok else f"Invalid HTTP Response: {d['status_code']}",
            "status_code": d["status_code"],
            "event": d["event"],
            "action": d["action"],
            "installation_id": d["installation_id"],
            "repository_id": d["repository_id"],
        }

    # ---- runner groups ---------------------------------------------------------------

    def _list_groups(self, request: _Request) -> _Answer:
        org = self._scope(request)
        groups = self._runner_groups.get(org, [])
        per_page = _int(request.query.get("per_page"), 30, 1, 100)
        page = _int(request.query.get("page"), 1, 1, 10**6)
        chunk = groups[(page - 1) * per_page : page * per_page]
        headers = self._link(request, len(groups), page, per_page)
        return _Answer(200, {"total_count": len(groups), "runner_groups": chunk}, headers)

    def _create_group(self, request: _Request) -> _Answer:
        org = self._scope(request)
        data = self._validate(request, models.OrgsOrgActionsRunnerGroupsPostBody)
        groups = self._runner_groups.setdefault(org, [])
        if any(g["name"].lower() == data.name.lower() for g in groups):
            # Undocumented; GitHub refuses a second group of the same name.
            raise GitHubError(409, f"Already exists - A runner group named {data.name} exists.")
        next_id = max(g["id"] for g in groups) + 1
        group = self._group(request.match["org"], next_id, data.name, False)
        if data.visibility:
            group["visibility"] = data.visibility
        groups.append(group)
        return _Answer(201, group)

    def _group(self, org: str, group_id: int, name: str, default: bool) -> dict[str, Any]:
        base = f"{self.url}orgs/{org}/actions/runner-groups/{group_id}"
        return {
            "id": group_id,
            "name": name,
            "visibility": "all",
            "default": default,
            "runners_url": f"{base}/runners",
            "hosted_runners_url": f"{base}/hosted-runners",
            "inherited": False,
            "allows_public_repositories": False,
            "restricted_to_workflows": False,
            "selected_workflows": [],
            "workflow_restrictions_read_only": False,
        }

    # ---- runners ---------------------------------------------------------------------

    def _generate_jit(self, request: _Request) -> _Answer:
        scope = self._scope(request)
        model = (
            models.OrgsOrgActionsRunnersGenerateJitconfigPostBody
            if "org" in request.match
            else models.ReposOwnerRepoActionsRunnersGenerateJitconfigPostBody
        )
        data = self._validate(request, model)
        if "org" in request.match:
            group_ids = {g["id"] for g in self._runner_groups.get(scope, [])}
        else:
            group_ids = {1}  # a repository has only its Default group
        if data.runner_group_id not in group_ids:
            raise _not_found(RUNNERS_DOCS)
        for rid, runner in self._runners.items():
            if self._runner_scope[rid] == scope and runner["name"] == data.name:
                raise GitHubError(
                    409, f"Already exists - A runner with the name {data.name} already exists."
                )
        runner_id = next(self._ids)
        runner = {
            "id": runner_id,
            "runner_group_id": data.runner_group_id,
            "name": data.name,
            "os": "unknown",
            "status": "offline",
            "busy": False,
            "ephemeral": True,
            "labels": [
                {"id": index + 1, "name": label, "type": "custom"}
                for index, label in enumerate(data.labels)
            ],
        }
        self._runners[runner_id] = runner
        self._runner_scope[runner_id] = scope
        config = {
            "runner_id": runner_id,
            "runner_name": data.name,
            "scope": scope,
            "runner_group_id": data.runner_group_id,
            "labels": list(data.labels),
            "work_folder": data.work_folder if isinstance(data.work_folder, str) else "_work",
            "credentials": secrets.token_hex(16),
        }
        encoded = base64.b64encode(json.dumps(config).encode()).decode()
        return _Answer(201, {"runner": dict(runner), "encoded_jit_config": encoded})

    def _list_runners(self, request: _Request) -> _Answer:
        scope = self._scope(request)
        per_page = _int(request.query.get("per_page"), 30, 1, 100)
        page = _int(request.query.get("page"), 1, 1, 10**6)
        name = request.query.get("name")
        selected = [
            r
            for rid, r in sorted(self._runners.items())
            if self._runner_scope[rid] == scope and (name is None or r["name"] == name)
        ]
        chunk = [dict(r) for r in selected[(page - 1) * per_page : page * per_page]]
        headers = self._link(request, len(selected), page, per_page)
        return _Answer(200, {"total_count": len(selected), "runners": chunk}, headers)

    def _get_runner(self, request: _Request) -> _Answer:
        return _Answer(200, dict(self._scoped_runner(request)))

    def _delete_runner(self, request: _Request) -> _Answer:
        runner = self._scoped_runner(request)
        if runner["busy"]:
            raise GitHubError(
                422, f'Bad request - Runner "{runner["name"]}" is still running a job"'
            )
        del self._runners[runner["id"]]
        del self._runner_scope[runner["id"]]
        return _Answer(204)

    def _scoped_runner(self, request: _Request) -> dict[str, Any]:
        scope = self._scope(request)
        runner_id = int(request.match["id"])
        if self._runner_scope.get(runner_id) != scope:
            raise _not_found()
        return self._runners[runner_id]

    def _runner_named(self, name: str) -> dict[str, Any]:
        for runner in self._runners.values():
            if runner["name"] == name:
                return runner
        raise KeyError(f"no runner named {name!r}")

    def _assign_runner(self, job: dict[str, Any], runner_name: str) -> None:
        job["runner_name"] = runner_name
        for rid, runner in self._runners.items():
            if runner["name"] == runner_name:
                job["runner_id"] = rid
                job["runner_group_id"] = runner["runner_group_id"]
                job["runner_group_name"] = "Default" if runner["runner_group_id"] == 1 else None
                scope = self._runner_scope[rid]
                for group in self._runner_groups.get(scope, []):
                    if group["id"] == runner["runner_group_id"]:
                        job["runner_group_name"] = group["name"]

    def _get_job(self, request: _Request) -> _Answer:
        scope = self._scope(request)
        job_id = int(request.match["job"])
        if self._job_repo.get(job_id) != scope:
            raise _not_found()
        return _Answer(200, dict(self._jobs[job_id]))

    # ---- shared pieces ---------------------------------------------------------------

    def _link(self, request: _Request, total: int, page: int, per_page: int) -> dict[str, str]:
        last = max(1, -(-total // per_page))
        links = []

        def url(p: int) -> str:
            params = {**request.query, "per_page": per_page, "page": p}
            return f"<{self.url}{request.path.lstrip('/')}?{urlencode(params)}>"

        if page > 1:
            links += [f'{url(page - 1)}; rel="prev"', f'{url(1)}; rel="first"']
        if page < last:
            links += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
        return {"Link": ", ".join(links)} if links else {}

    def _validate(self, request: _Request, model: type[pydantic.BaseModel]) -> Any:
        """The body parsed by githubkit's request model, strictly (GitHub's JSON schema does
        not coerce "1" to 1), or GitHub's 400/422."""
        try:
            raw = json.loads(request.body or b"null")
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON") from None
        if raw is None:
            raw = {}
        try:
            return model.model_validate_json(json.dumps(raw), strict=True)
        except pydantic.ValidationError as exc:
            details = "\n".join(_schema_message(e) for e in exc.errors())
            raise GitHubError(422, f"Invalid request.\n\n{details}") from None

    def _account(self, login: str, account_id: int, account_type: str) -> dict[str, Any]:
        api = f"{self.url}users/{login}"
        return {
            "login": login,
            "id": account_id,
            "node_id": f"{'O' if account_type == 'Organization' else 'U'}_{account_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{account_id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"https://github.com/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": account_type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _installation_body(self, inst: _Installation) -> dict[str, Any]:
        created = _iso(inst.created_at)
        settings = (
            f"https://github.com/organizations/{inst.login}/settings/installations/{inst.id}"
            if inst.account_type == "Organization"
            else f"https://github.com/settings/installations/{inst.id}"
        )
        return {
            "id": inst.id,
            "account": self._account(inst.login, inst.account_id, inst.account_type),
            "repository_selection": inst.selection,
            "access_tokens_url": f"{self.url}app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.url}installation/repositories",
            "html_url": settings,
            "app_id": self.app_id,
            "client_id": f"Iv1.{self.app_id:016x}",
            "target_id": inst.account_id,
            "target_type": inst.account_type,
            "permissions": inst.permissions(),
            "events": ["workflow_job"],
            "created_at": created,
            "updated_at": created,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "app_slug": "runnerhub-test",
            "suspended_by": None,
            "suspended_at": None,
        }


def _dump(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _int(value: str | None, default: int, low: int, high: int) -> int:
    """A paging parameter as GitHub reads it: junk means the default, and per_page is
    clamped to its maximum rather than refused."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, low), high)


def _delivered_ok(delivery: dict[str, Any]) -> bool:
    return 200 <= delivery["status_code"] < 300


_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "a boolean",
    "list_type": "an array",
    "model_type": "an object",
    "dict_type": "an object",
    "float_type": "a number",
}


def _schema_message(error: Any) -> str:
    """One pydantic error in the words of GitHub's JSON-schema validator."""
    loc = "/".join(str(part) for part in error["loc"] if not str(part).startswith("literal["))
    where = f"'properties/{loc}'" if loc else "'properties'"
    value = json.dumps(error.get("input"), default=str)
    kind = error["type"]
    if kind == "missing":
        return f'"{error["loc"][-1]}" wasn\'t supplied.'
    if kind == "too_short":
        return f"For {where}, {value} should have at least {error['ctx']['min_length']} item(s)."
    if kind == "too_long":
        return f"For {where}, {value} should have at most {error['ctx']['max_length']} item(s)."
    if kind in _TYPE_NAMES:
        return f"For {where}, {value} is not {_TYPE_NAMES[kind]}."
    if kind == "literal_error":
        return f"For {where}, {value} is not a member of {error['ctx']['expected']}."
    return f"For {where}, {value} is invalid: {error['msg']}."


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as GitHub serves it; the fake decides every answer."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, a kept-alive connection
    # waits out the client's delayed ACK (40 ms) on every answer.
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    sys_version = ""

    def _serve(self) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = fake.handle(self.command, self.path, headers, body)
        if answer is None:  # a dropped connection: no status line at all
            self.close_connection = True
            return
        payload = b"" if answer.status in (204, 304) or answer.body is None else _dump(answer.body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        version = headers.get("x-github-api-version", API_VERSIONS[0])
        self.send_header("X-GitHub-Api-Version-Selected", version)
        self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the fake records calls itself; stderr noise helps nobody
