"""GitHub and the cluster as the runners live them, for the scheduler's tests and benchmarks.

The scheduler talks to the fake Kubernetes and the fake GitHub through the real clients; this
world plays the parts nobody asks for by API: kubelets that start pods, runners that come
online and take jobs, GitHub that hands a queued job to an idle runner with exactly its labels
and sends RunnerHub the deliveries that go with it.
"""
import base64
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.factories import WorkflowJobPayloadFactory, same_job
from harness.fake_github import FakeGitHub
from harness.fake_kubernetes import FakeKubernetes
from runners.decision import label_set

NAMESPACE = "runnerhub-runners"
_installations = itertools.count(70_000_000)


@dataclass
class Account:
    login: str
    owner_id: int
    installation_id: int
    kind: str = "Organization"


@dataclass
class GitHubJob:
    """A job as GitHub knows it: the truth RunnerHub converges on."""

    payload: dict[str, Any]
    account: Account
    labels: tuple[str, ...]
    status: str = "queued"  # queued | in_progress | completed
    runner: str = ""

    @property
    def job_id(self) -> int:
        return self.payload["workflow_job"]["id"]

    @property
    def scope(self) -> str:
        """Where a runner must be registered to take it: the organization, or the repository."""
        repo = self.payload["repository"]
        return self.account.login.lower() if self.account.kind == "Organization" else repo["full_name"].lower()


@dataclass
class World:
    kube: FakeKubernetes
    github: FakeGitHub
    deliver: Callable[[dict[str, Any]], int]  # sends a delivery to RunnerHub, returns its status
    jobs: dict[int, GitHubJob] = field(default_factory=dict)
    ran: dict[str, list[int]] = field(default_factory=dict)  # runner name -> the jobs it took
    failed_deliveries: list[dict[str, Any]] = field(default_factory=list)
    # How many of the next deliveries of an action GitHub's webhook loses on the way (with
    # `through_github`): {"queued": 2} loses the next two queued deliveries.
    lose: dict[str, int] = field(default_factory=dict)
    lose_rate: float = 0.0  # and this share of every delivery, at random (chaos runs)
    _random: random.Random = field(default_factory=lambda: random.Random(7))

    def through_github(self, post: Callable[[bytes, dict[str, str]], int]) -> None:
        """From now on deliveries leave through the fake GitHub's webhook, which records each
        attempt (as `GET /app/hook/deliveries` lists them) and can redeliver it; `post` sends
        one (body, headers) to RunnerHub and returns the HTTP status."""
        self.github.hook = post

    def account(self, login: str, owner_id: int, kind: str = "Organization",
                repositories: Iterable[tuple[int, str]] = ()) -> Account:  # fmt: skip
        account = Account(login, owner_id, next(_installations), kind)
        self.github.add_installation(account.installation_id, login, owner_id, kind, repositories)
        return account

    def queue(self, account: Account, labels: Iterable[str] = ("ubuntu-24.04-riscv",),
              repo_id: int | None = None, repo_name: str = "project") -> GitHubJob:  # fmt: skip
        """A job queued on GitHub, and its `queued` delivery to RunnerHub."""
        repository = {
            "owner__id": account.owner_id,
            "owner__login": account.login,
            "owner__type": account.kind,
            "name": repo_name,
            "full_name": f"{account.login}/{repo_name}",
        }
        if repo_id is not None:
            repository["id"] = repo_id
        payload = WorkflowJobPayloadFactory(
            workflow_job__labels=list(labels),
            installation__id=account.installation_id,
            **{f"repository__{key}": value for key, value in repository.items()},
        )
        job = GitHubJob(payload, account, label_set(labels))
        self.jobs[job.job_id] = job
        self.github.add_job(payload["repository"]["full_name"], job.job_id, "queued", labels=list(labels))
        self._send(payload)
        return job

    def _send(self, payload: dict[str, Any]) -> None:
        if self.github.hook is not None:
            lost = self.lose.get(payload["action"], 0) > 0
            if lost:
                self.lose[payload["action"]] -= 1
            lost = lost or (self.lose_rate > 0 and self._random.random() < self.lose_rate)
            _, status = self.github.send_hook("workflow_job", payload, lost=lost)
        else:
            status = self.deliver(payload)
        if status != 200:
            self.failed_deliveries.append(payload)

    # --- the cluster -----------------------------------------------------------------------

    def boot(self) -> list[str]:
        """Every Pending pod whose secret exists starts running, and its runner comes online."""
        booted = []
        for pod in self.kube.pods(NAMESPACE):
            name = pod["metadata"]["name"]
            if pod["status"]["phase"] != "Pending" or self.kube.secret(NAMESPACE, name) is None:
                continue
            self.kube.set_phase(NAMESPACE, name, "Running")
            if self.github.runner_by_name(name) is not None:
                self.github.set_runner(name, status="online", busy=False)
            booted.append(name)
        return booted

    def jit_of(self, name: str) -> dict[str, Any]:
        """What the JIT config in a runner's secret names (runner id, name, labels)."""
        secret = self.kube.secret(NAMESPACE, name)
        assert secret is not None, f"no secret for {name}"
        encoded = base64.b64decode(secret["data"]["jitconfig"]).decode()
        return self.github.decode_jit(encoded)

    # --- GitHub's dispatch -------------------------------------------------------------------

    def assign(self) -> list[tuple[str, int]]:
        """Each online idle runner takes the oldest queued job of its scope whose labels are
        exactly its labels, as GitHub does; RunnerHub hears `in_progress`."""
        taken = []
        for runner in self.github.runners():
            if runner["status"] != "online" or runner["busy"]:
                continue
            labels = label_set(label["name"] for label in runner["labels"])
            scope = self._scope_of(runner["name"])
            job = next(
                (
                    job
                    for job in sorted(self.jobs.values(), key=lambda job: job.job_id)
                    if job.status == "queued" and job.labels == labels and job.scope == scope
                ),
                None,
            )
            if job is None:
                continue
            self.github.set_runner(runner["name"], busy=True)
            self.github.set_job(job.job_id, status="in_progress", runner_name=runner["name"])
            job.status, job.runner = "in_progress", runner["name"]
            self.ran.setdefault(runner["name"], []).append(job.job_id)
            self._send(same_job(job.payload, "in_progress", runner_name=runner["name"]))
            taken.append((runner["name"], job.job_id))
        return taken

    def _scope_of(self, runner_name: str) -> str:
        for runner in self.github.runners():
            if runner["name"] == runner_name:
                jit = self.jit_of(runner_name) if self.kube.secret(NAMESPACE, runner_name) else {}
                return str(jit.get("scope", "")).lower()
        return ""

    def complete(self, jobs: Iterable[GitHubJob] | None = None, conclusion: str = "success") -> int:
        """Running jobs finish: RunnerHub hears `completed`, the ephemeral runner removes its
        registration and its pod succeeds."""
        done = 0
        for job in list(jobs if jobs is not None else self.jobs.values()):
            if job.status != "in_progress":
                continue
            job.status = "completed"
            self.github.set_job(job.job_id, status="completed", conclusion=conclusion)
            self._send(same_job(job.payload, "completed", conclusion=conclusion, runner_name=job.runner))
            if self.github.runner_by_name(job.runner) is not None:
                self.github.remove_runner(job.runner)
            if self.kube.pod(NAMESPACE, job.runner) is not None:
                self.kube.set_phase(NAMESPACE, job.runner, "Succeeded", exit_code=0, reason="Completed")
            done += 1
        return done

    def cancel(self, job: GitHubJob) -> None:
        """GitHub cancels a job before any runner took it: RunnerHub hears `completed`."""
        assert job.status == "queued"
        job.status = "completed"
        self.github.set_job(job.job_id, status="completed", conclusion="cancelled")
        self._send(same_job(job.payload, "completed", conclusion="cancelled"))

    def step(self) -> tuple[list[str], list[tuple[str, int]]]:
        return self.boot(), self.assign()

    # --- what the tests check -----------------------------------------------------------------

    def runner_pods(self) -> list[dict[str, Any]]:
        return self.kube.pods(NAMESPACE)

    def leftovers(self) -> dict[str, list[str]]:
        """Pods, secrets and GitHub registrations still there."""
        return {
            "pods": [pod["metadata"]["name"] for pod in self.kube.pods(NAMESPACE)],
            "secrets": [secret["metadata"]["name"] for secret in self.kube.secrets(NAMESPACE)],
            "runners": [runner["name"] for runner in self.github.runners()],
        }

