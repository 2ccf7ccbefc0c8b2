"""GitHub, as the scheduler needs it: just-in-time runners registered, found and deleted.

A thin adapter over githubkit with the GitHub App's credentials. Installation tokens are cached
in Redis by githubkit itself (shared by every replica, so a new leader does not mint new ones).
Nothing is retried here: a JIT POST whose reply was lost already made its runner, and retrying
it would get 409, so every failure goes back to the scheduler, which rolls back and starts
afresh on its next pass. Errors come out as the few kinds the scheduler tells apart.
"""
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import redis
from django.conf import settings
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub
from githubkit.cache import RedisCacheStrategy
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout

from runners import store
from webhooks.store import client, keys

log = logging.getLogger(__name__)

T = TypeVar("T")
RUNNERS_PER_PAGE = 100
GROUP_CACHE_SECONDS = 3600
# githubkit opens an HTTP client per request; building a TLS context each time costs more than
# the call itself, so every client shares this one.
_TLS = ssl.create_default_context()


class GitHubError(Exception):
    """A call GitHub refused or did not answer; `status` is its HTTP status (0: no answer)."""

    def __init__(self, what: str, status: int = 0) -> None:
        super().__init__(f"{what}: {status or 'no answer'}")
        self.status = status


class Conflict(GitHubError):
    """409: a runner of that name exists already (a JIT POST whose reply was lost)."""


class Busy(GitHubError):
    """422 on delete: the runner is running a job right now."""


class NotFound(GitHubError):
    """404: the runner, repository or organization is not there (or not for this app)."""


class RateLimited(GitHubError):
    """The installation's rate limit is spent: no call for it until `until` (epoch)."""

    def __init__(self, what: str, status: int, until: float) -> None:
        super().__init__(what, status)
        self.until = until


@dataclass(frozen=True)
class Target:
    """Where an entity's runners are registered: an organization, or for a personal account
    one repository (`owner/repo`)."""

    kind: str  # "org" | "repo"
    owner: str
    repo: str
    installation_id: int

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> "Target":
        return cls(**json.loads(text))

    @property
    def label(self) -> str:
        return self.owner if self.kind == "org" else f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class JobState:
    """A workflow job as GitHub reports it."""

    status: str  # queued | waiting | pending | requested | in_progress | completed
    conclusion: str
    runner_name: str


@dataclass(frozen=True)
class HookDelivery:
    """One attempt of the App's webhook, as GitHub lists them (newest first)."""

    delivery_id: int
    guid: str  # the X-GitHub-Delivery of every attempt of one delivery
    delivered_at: float
    redelivery: bool
    status_code: int
    event: str
    action: str

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Runner:
    runner_id: int
    name: str
    status: str  # online | offline
    busy: bool


class GitHubRunners:
    """The GitHub App's view of self-hosted runners. One per scheduler process; thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[int, GitHub[Any]] = {}
        self._lock = threading.Lock()

    # --- clients ---------------------------------------------------------------------------

    def _github(self, installation_id: int = 0) -> GitHub[Any]:
        """githubkit with the App's JWT (installation 0) or an installation's token."""
        with self._lock:
            github = self._clients.get(installation_id)
            if github is None:
                auth = (
                    AppInstallationAuthStrategy(
                        settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY, installation_id
                    )
                    if installation_id
                    else AppAuthStrategy(settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY)
                )
                github = GitHub(
                    auth,
                    base_url=settings.GITHUB_API_URL,
                    user_agent="RunnerHub",
                    timeout=settings.SCHEDULER_API_TIMEOUT_SECONDS,
                    ssl_verify=_TLS,
                    auto_retry=False,
                    http_cache=False,
                    cache_strategy=RedisCacheStrategy(client(), prefix=keys().github_cache_prefix),
                    event_hooks={"response": [_response_hook(installation_id)]},
                )
                self._clients[installation_id] = github
            return github

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except redis.RedisError as exc:
            # githubkit reads the installation token from its Redis cache on every call.
            raise store.StoreUnavailable(type(exc).__name__) from exc
        except RateLimitExceeded as exc:
            until = time.time() + exc.retry_after.total_seconds()
            raise RateLimited(what, exc.response.status_code, until) from None
        except RequestFailed as exc:
            status = exc.response.status_code
            kind = {409: Conflict, 422: Busy, 404: NotFound}.get(status, GitHubError)
            raise kind(what, status) from None
        except (RequestTimeout, RequestError, httpx.HTTPError) as exc:
            log.warning("github.unanswered what=%s kind=%s", what, type(exc).__name__)
            raise GitHubError(what) from None

    # --- installations -----------------------------------------------------------------------

    def installation_of(self, kind: str, owner: str, repo: str = "") -> int:
        """The App's installation on an organization or a repository (App JWT)."""
        apps = self._github().rest.apps
        if kind == "org":
            response = self._call("installation", lambda: apps.get_org_installation(owner))
        else:
            response = self._call("installation", lambda: apps.get_repo_installation(owner, repo))
        return response.parsed_data.id

    # --- runners -----------------------------------------------------------------------------

    def runner_group_id(self, target: Target) -> int:
        """RUNNER_GROUP's id in the target's organization: the default group when unset, and a
        group created when the named one is missing. Repositories have no groups (1)."""
        if target.kind != "org":
            return 1
        cache_key = keys().runner_group(target.owner)
        cached = store.cached(cache_key)
        if cached:
            return int(cached)
        actions = self._github(target.installation_id).rest.actions
        wanted = settings.RUNNER_GROUP
        group_id = None
        page = 1
        while group_id is None:
            response = self._call(
                "runner_groups",
                lambda: actions.list_self_hosted_runner_groups_for_org(
                    target.owner, per_page=100, page=page
                ),
            )
            groups = response.parsed_data.runner_groups
            for group in groups:
                if (group.name == wanted) if wanted else group.default:
                    group_id = int(group.id)  # a "number" in GitHub's schema
            if len(groups) < 100:
                break
            page += 1
        if group_id is None:
            if not wanted:
                raise NotFound("default runner group", 404)
            response = self._call(
                "runner_group_create",
                lambda: actions.create_self_hosted_runner_group_for_org(
                    target.owner, data={"name": wanted, "visibility": "all"}
                ),
            )
            group_id = int(response.parsed_data.id)
            log.info("github.runner_group_created org=%s group=%s", target.owner, group_id)
        store.cache_value(cache_key, str(group_id), GROUP_CACHE_SECONDS)
        return group_id

    def register(self, target: Target, name: str, labels: list[str]) -> tuple[int, str]:
        """A just-in-time runner `name` with exactly `labels`: (runner id, encoded JIT config).

        Never retried: raises Conflict when a runner of that name exists (an earlier POST whose
        reply was lost), GitHubError for anything else.
        """
        group_id = self.runner_group_id(target)
        body = {"name": name, "runner_group_id": group_id, "labels": labels, "work_folder": "_work"}
        actions = self._github(target.installation_id).rest.actions
        if target.kind == "org":
            call = lambda: actions.generate_runner_jitconfig_for_org(target.owner, data=body)  # noqa: E731
        else:
            call = lambda: actions.generate_runner_jitconfig_for_repo(  # noqa: E731
                target.owner, target.repo, data=body
            )
        response = self._call("jit", call)
        return response.parsed_data.runner.id, response.parsed_data.encoded_jit_config

    def deregister(self, target: Target, runner_id: int) -> bool:
        """Delete a runner's registration. Returns False when it was gone already; raises Busy
        when it is running a job (it just took one: keep it)."""
        actions = self._github(target.installation_id).rest.actions
        try:
            if target.kind == "org":
                self._call(
                    "runner_delete",
                    lambda: actions.delete_self_hosted_runner_from_org(target.owner, runner_id),
                )
            else:
                self._call(
                    "runner_delete",
                    lambda: actions.delete_self_hosted_runner_from_repo(
                        target.owner, target.repo, runner_id
                    ),
                )
        except NotFound:
            return False
        return True

    def find(self, target: Target, name: str) -> Runner | None:
        """The runner called `name`, if GitHub has one (the `name` filter: one call)."""
        for runner in self._runners(target, name=name):
            if runner.name == name:
                return runner
        return None

    def runners(self, target: Target) -> Iterator[Runner]:
        """Every self-hosted runner of the target, page by page."""
        return self._runners(target)

    def job(self, installation_id: int, repo: str, job_id: int) -> JobState | None:
        """What GitHub says of a job now; None when it does not know it (404)."""
        owner, _, name = repo.partition("/")
        actions = self._github(installation_id).rest.actions
        try:
            response = self._call("job", lambda: actions.get_job_for_workflow_run(owner, name, job_id))
        except NotFound:
            return None
        job = response.parsed_data
        return JobState(str(job.status), str(job.conclusion or ""), str(job.runner_name or ""))

    def failed_deliveries(
        self, cursor: str = "", per_page: int = 100
    ) -> tuple[list[HookDelivery], str]:
        """One page of the App's failed webhook deliveries (attempts), newest first, and the
        next page's cursor ('' at the end). App JWT."""
        apps = self._github().rest.apps
        extra = {"cursor": cursor} if cursor else {}
        response = self._call(
            "deliveries",
            lambda: apps.list_webhook_deliveries(per_page=per_page, status="failure", **extra),
        )
        items = [
            HookDelivery(
                delivery_id=item.id,
                guid=item.guid,
                delivered_at=item.delivered_at.timestamp(),
                redelivery=bool(item.redelivery),
                status_code=int(item.status_code),
                event=item.event,
                action=item.action or "",
            )
            for item in response.parsed_data
        ]
        return items, _next_cursor(response.headers.get("link", ""))

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to send a delivery again (202). App JWT."""
        apps = self._github().rest.apps
        self._call("redeliver", lambda: apps.redeliver_webhook_delivery(delivery_id))

    def _runners(self, target: Target, name: str | None = None) -> Iterator[Runner]:
        actions = self._github(target.installation_id).rest.actions
        extra = {"name": name} if name else {}
        page = 1
        while True:
            if target.kind == "org":
                call = lambda: actions.list_self_hosted_runners_for_org(  # noqa: E731
                    target.owner, per_page=RUNNERS_PER_PAGE, page=page, **extra
                )
            else:
                call = lambda: actions.list_self_hosted_runners_for_repo(  # noqa: E731
                    target.owner, target.repo, per_page=RUNNERS_PER_PAGE, page=page, **extra
                )
            found = self._call("runners", call).parsed_data.runners
            for runner in found:
                yield Runner(runner.id, runner.name, runner.status, bool(runner.busy))
            if len(found) < RUNNERS_PER_PAGE:
                return
            page += 1


def _next_cursor(link: str) -> str:
    """The `cursor` of the `rel="next"` URL of a Link header."""
    for part in link.split(","):
        if 'rel="next"' in part:
            url = part.split(";")[0].strip().strip("<>")
            for name, values in parse_qs(urlsplit(url).query).items():
                if name == "cursor" and values:
                    return values[0]
    return ""


def _response_hook(installation_id: int) -> Callable[[httpx.Response], None]:
    """Count every call (token requests included) and remember the rate limit GitHub reports,
    so /metrics shows both whichever replica made the call."""

    def hook(response: httpx.Response) -> None:
        kind = _kind(response.request.url.path)
        counters = {f"github_calls:{kind}": 1}
        if response.status_code >= 400:
            counters[f"github_errors:{kind}"] = 1
        try:
            store.count(counters)
            headers = response.headers
            if "x-ratelimit-remaining" in headers:
                store.record_rate_limit(
                    str(installation_id or "app"),
                    int(headers.get("x-ratelimit-limit", 0)),
                    int(headers["x-ratelimit-remaining"]),
                    int(headers.get("x-ratelimit-reset", 0)),
                )
        except (store.StoreUnavailable, ValueError):
            pass  # a figure for /metrics; the call itself went through

    return hook


def _kind(path: str) -> str:
    for marker, kind in (
        ("/access_tokens", "token"),
        ("/generate-jitconfig", "jit"),
        ("/runner-groups", "runner_groups"),
        ("/actions/runners", "runners"),
        ("/installation", "installation"),
        ("/actions/jobs", "jobs"),
        ("/hook/deliveries", "deliveries"),
    ):
        if marker in path:
            return kind
    return "other"
