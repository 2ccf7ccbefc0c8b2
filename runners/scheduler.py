"""The scheduler: one pass reads demand and supply, decides, and carries the plan out.

Only the replica holding the lease acts, and each of its writes is fenced by the lease inside
the script that makes it. Provisioning a runner is a sequence of steps, each recorded on the
worker hash before the next begins:

    reserve (Redis) -> JIT config (GitHub) -> registered -> Pod, then its Secret -> launched

so a leader killed at any step leaves a record that the next pass, in this replica or another,
either adopts (pod and secret both exist) or rolls back (registration deleted, pod deleted,
record finished). Nothing is reused: a rolled-back runner's name and JIT config are never seen
again, and its job gets a new runner with a new name.
"""
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django import db

from runners import pods, reconcile, store
from runners.decision import (
    Job,
    Limits,
    Plan,
    Start,
    State,
    Stop,
    Why,
    Worker,
    decide,
)
from runners.github import Busy, GitHubError, GitHubRunners, NotFound, RateLimited, Target
from runners.kube import Cluster, KubernetesError
from runners.models import DEFAULT_DEADLINE_SECONDS, PodSettings, pod_settings
from runners.store import Fenced
from webhooks.models import Account

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 4000
# Reasons a worker ends that mean its job did not get what it needed from it.
FAILURES = frozenset({Why.POD_FAILED, Why.START_TIMEOUT, Why.POD_GONE, Why.INTERRUPTED})
WHY_VALUES = frozenset(why.value for why in Why)
# A rollback still failing after this long is given up (see _abandoned).
ROLLBACK_GIVE_UP_SECONDS = 3600


def name_prefix() -> str:
    """Every runner this deployment names starts so; the orphan sweep deletes no other."""
    return f"runnerhub-{settings.RUNNERHUB_ENV}-"


def new_name() -> str:
    """A fresh worker name: a valid DNS label (lower case, under 63 characters), never reused."""
    return f"{name_prefix()}{secrets.token_hex(5)}"


@dataclass
class PassReport:
    """What one pass did, for the log line and the tests."""

    plan: Plan | None = None
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # idle ones GitHub said had just taken a job
    rolled_back: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reservations refused, by why
    reconciled: reconcile.Report | None = None


class Scheduler:
    """One replica of the scheduler. `lead()` before `run_pass()`; `run_forever` does both."""

    def __init__(
        self,
        github: GitHubRunners | None = None,
        cluster: Cluster | None = None,
        replica: str | None = None,
    ) -> None:
        self.github = github or GitHubRunners()
        self.cluster = cluster or Cluster()
        self.replica = replica or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.holder = ""  # the lease's value while this replica leads
        self.paused: dict[int, float] = {}  # installation id to when its rate limit resets
        self.caps: dict[str, int] = {}  # last account caps read, kept through a database outage
        self.last_sweep = 0.0
        self.last_reconcile = 0.0
        self.last_redelivery = 0.0
        self.budget = reconcile.Budget(self.paused)
        self._lost = threading.Event()

    # --- leadership ---------------------------------------------------------------------------

    def lead(self) -> bool:
        """Take or renew the lease. Returns whether this replica leads now."""
        held = self.holder
        outcome, value = store.take_lease(self.replica, held, settings.SCHEDULER_LEASE_SECONDS)
        if outcome == "acquired" and held:
            # The lease ran out while this replica held it: another may have led meanwhile and
            # undone what this one was doing. The pass under way must stop; the new lease is
            # given back, and the next pass takes a fresh one and decides again.
            log.warning("scheduler.lease_lapsed replica=%s", self.replica)
            store.release_lease(value)
            self.holder = ""
            self._lost.set()
            return False
        if outcome in ("acquired", "renewed"):
            if outcome == "acquired":
                log.info("scheduler.leading replica=%s lease=%s", self.replica, value)
            self.holder = value
            self._lost.clear()
            return True
        if self.holder:
            log.warning("scheduler.lease_lost replica=%s now=%s", self.replica, value)
        self.holder = ""
        self._lost.set()
        return False

    def wait_to_lead(self) -> bool:
        """Try to lead for up to one lease (a leader that just died frees it by then)."""
        deadline = time.monotonic() + settings.SCHEDULER_LEASE_SECONDS + 1
        while not self.lead():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def resign(self) -> None:
        if self.holder:
            store.release_lease(self.holder)
            self.holder = ""

    def _check_lease(self) -> None:
        """Before each call to GitHub or Kubernetes: still leading? Fenced writes would refuse
        the record of it anyway, but the call itself is better not made."""
        if self._lost.is_set() or not self.holder or store.lease_holder() != self.holder:
            self._lost.set()
            raise Fenced(self.holder)

    # --- one pass -------------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        """Read, decide, act. Raises Fenced when the lease was lost (the pass stops at once),
        store.StoreUnavailable when Redis fails, KubernetesError when the pods cannot be listed."""
        if not self.holder:
            raise Fenced("")
        began = time.monotonic()
        report = PassReport()
        now = time.time()
        # A long-running process: a connection the database dropped is not reused. (Never
        # inside a transaction, which closing would break: a test's, for one.)
        if not db.connection.in_atomic_block:
            db.close_old_connections()
        jobs = store.read_demand()
        drained = self._converge(jobs, now, report)
        if drained:
            jobs = store.read_demand()
        workers = store.read_workers()
        selector = pods.selector(settings.RUNNERHUB_ENV)
        pod_states = self.cluster.pods(selector)
        secret_names = self.cluster.secrets(selector)
        limits = replace(self._limits(jobs), drained=drained)
        plan = decide(jobs, workers, pod_states, secret_names, limits, now)
        report.plan = plan

        for worker, job_id in plan.links:
            store.advance(self.holder, worker, {"job_id": job_id})
            log.info("worker.job worker=%s job_id=%s", worker.name, job_id)
        for worker in plan.started:
            store.advance(self.holder, worker, {"state": State.RUNNING}, started=True)
        for worker in plan.adoptions:
            store.advance(self.holder, worker, {"state": State.LAUNCHED, "adopted": "1"})
            log.info("worker.adopted worker=%s", worker.name)
        for stop in plan.stops:
            self._stop(stop, pod_states.get(stop.worker.name), report)
        for worker in plan.rollbacks:
            self._roll_back(worker, report)
        if plan.starts:
            self._start_all(plan.starts, report)
        if time.time() - self.last_sweep >= settings.ORPHAN_SWEEP_SECONDS:
            self._sweep(set(pod_states) | set(secret_names), report)
            self.last_sweep = time.time()
        seconds = time.monotonic() - began
        store.record_pass(self.holder, seconds, {"shortfall": plan.shortfall})
        if report.started or report.stopped or report.rolled_back or report.failed:
            log.info(
                "scheduler.pass jobs=%d workers=%d started=%d stopped=%d rolled_back=%d "
                "failed=%d shortfall=%d seconds=%.3f",
                len(jobs), len(workers), len(report.started), len(report.stopped),
                len(report.rolled_back), len(report.failed), plan.shortfall, seconds,
            )  # fmt: skip
        return report

    def _converge(self, jobs: list[Job], now: float, report: PassReport) -> frozenset[Any]:
        """Every RECONCILE_INTERVAL_SECONDS, the jobs without news are checked against GitHub;
        every REDELIVERY_INTERVAL_SECONDS, failed deliveries are redelivered. Returns the groups
        whose jobs GitHub said are over, so that their runners go at once."""
        outcome = reconcile.Report()
        if now - self.last_redelivery >= settings.REDELIVERY_INTERVAL_SECONDS:
            self.last_redelivery = now
            if settings.REDELIVER_FAILED:
                self._check_lease()
                reconcile.redeliver_failed(self.github, self.budget, now, outcome)
        if now - self.last_reconcile >= settings.RECONCILE_INTERVAL_SECONDS:
            self.last_reconcile = now
            self._check_lease()
            reconcile.reconcile_jobs(self.github, jobs, self.budget, now, outcome)
        report.reconciled = outcome
        by_id = {job.job_id: job for job in jobs}
        return frozenset(
            by_id[job_id].group for job_id, status in outcome.applied.items() if status == "completed"
        )

    def _limits(self, jobs: Iterable[Job]) -> Limits:
        owners = {int(job.owner_id) for job in jobs if job.owner_id.isdigit()}
        try:
            rows = Account.objects.filter(github_id__in=owners).values_list(
                "github_id", "max_workers", "blocked"
            )
            # A blocked account's jobs drain without new runners.
            self.caps = {
                str(github_id): 0 if blocked else cap
                for github_id, cap, blocked in rows
                if blocked or cap is not None
            }
        except db.Error as exc:
            log.error("scheduler.database_error kind=%s keeping=last_caps", type(exc).__name__)
        return Limits(
            start_timeout=settings.RUNNER_START_TIMEOUT,
            idle_timeout=settings.RUNNER_IDLE_TIMEOUT,
            board_max_starting=settings.POOL_MAX_PENDING_PODS,
            account_caps=dict(self.caps),
        )

    # --- starting runners ---------------------------------------------------------------------

    def _start_all(self, starts: Iterable[Start], report: PassReport) -> None:
        try:
            pod = pod_settings()
        except db.Error as exc:
            log.error("scheduler.database_error kind=%s starts=deferred", type(exc).__name__)
            return
        for start in starts:
            self._start(start, pod, report)

    def _start(self, start: Start, pod: PodSettings, report: PassReport) -> None:
        job = start.job
        mapping = int(job.mapping_id) if job.mapping_id.isdigit() else None
        if job.pool in pod.broken_pools or mapping in pod.broken_mappings:
            report.skipped["broken_template"] = report.skipped.get("broken_template", 0) + 1
            return
        try:
            target = self._target(job)
        except GitHubError as exc:
            log.warning("worker.no_target job_id=%s entity=%s error=%s", job.job_id, job.entity_id, exc)
            report.skipped["no_target"] = report.skipped.get("no_target", 0) + 1
            return
        if self.paused.get(target.installation_id, 0) > time.time():
            report.skipped["rate_limited"] = report.skipped.get("rate_limited", 0) + 1
            return
        name = new_name()
        outcome = store.reserve(
            self.holder,
            name,
            job,
            self.caps.get(job.owner_id),
            settings.POOL_MAX_PENDING_PODS,
            target.dumps(),
        )
        if outcome != "reserved":
            report.skipped[outcome] = report.skipped.get(outcome, 0) + 1
            return
        worker = _reserved_worker(name, job, target)
        try:
            self._check_lease()
            runner_id, jit_config = self.github.register(target, name, list(job.labels))
        except RateLimited as exc:
            # Refused before anything was made: nothing to look for on GitHub.
            self.paused[target.installation_id] = exc.until
            self._discard(worker, "rate_limited", report)
            return
        except GitHubError as exc:
            log.warning("worker.register_failed worker=%s status=%s", name, exc.status)
            if exc.status == 409 or exc.status == 0 or exc.status >= 500:
                # The runner may exist (a lost reply; a 409 says it does): find it, delete it.
                self._roll_back(worker, report, why="register_failed")
            else:
                self._discard(worker, "register_refused", report)
            return
        worker = replace(worker, runner_id=str(runner_id), state=State.REGISTERED)
        if not store.advance(self.holder, worker, {"state": State.REGISTERED, "runner_id": runner_id}):
            # Finished meanwhile (rolled back by a replica that led while this one was paused).
            self._roll_back(worker, report, why="superseded")
            return
        spec = self._spec(worker, job, pod)
        try:
            self._check_lease()
            pod_uid = self.cluster.create_pod(pods.pod_manifest(spec))
            self._check_lease()
            self.cluster.create_secret(pods.secret_manifest(spec, pod_uid, jit_config))
        except KubernetesError as exc:
            log.warning("worker.launch_failed worker=%s status=%s", name, exc.status)
            self._roll_back(worker, report, why="launch_failed")
            return
        if not store.advance(self.holder, worker, {"state": State.LAUNCHED, "pod_uid": pod_uid}):
            self._roll_back(worker, report, why="launch_failed")
            return
        store.observe_latency(time.time() - job.created_at)
        store.count({"runners_started": 1})
        report.started.append(name)
        log.info(
            "worker.launched worker=%s job_id=%s entity=%s pool=%s runner_id=%s",
            name, job.job_id, job.entity_id, job.pool, runner_id,
        )  # fmt: skip

    def _target(self, job: Job) -> Target:
        """Where the job's runners register: its organization, or its repository for a
        personal account, with the App's installation there."""
        if job.entity_type == "organization":
            kind, owner, repo = "org", job.entity_name, ""
        else:
            owner, _, repo = job.repo.partition("/")
            kind = "repo"
        if job.installation_id.isdigit():
            installation = int(job.installation_id)
        else:
            known = store.read_targets().get(job.entity_id)
            installation = Target.loads(known).installation_id if known else 0
            if not installation:
                installation = self.github.installation_of(kind, owner, repo)
        target = Target(kind, owner, repo, installation)
        store.remember_target(job.entity_id, target.dumps())
        return target

    def _spec(self, worker: Worker, job: Job, pod: PodSettings) -> pods.RunnerSpec:
        pool = pod.pools.get(job.pool)
        chosen = [
            template
            for template in (
                pod.pool_templates.get(job.pool),
                pod.mapping_templates.get(int(job.mapping_id)) if job.mapping_id.isdigit() else None,
            )
            if template
        ]
        return pods.RunnerSpec(
            name=worker.name,
            env=settings.RUNNERHUB_ENV,
            entity_id=job.entity_id,
            pool=job.pool,
            image=job.image,
            namespace=self.cluster.namespace,
            active_deadline_seconds=(
                pool.active_deadline_seconds if pool else DEFAULT_DEADLINE_SECONDS
            ),
            resources=pool.resources() if pool else {},
            templates=tuple(chosen),
        )

    # --- stopping runners -----------------------------------------------------------------------

    def _stop(self, stop: Stop, pod: Any, report: PassReport) -> None:
        """Registration first, then the pod: a runner GitHub says is busy has just taken a job
        and is kept (unless its pod is done for anyway)."""
        worker = stop.worker
        why = stop.why
        if why == Why.STOP_RESUMED and worker.reason in WHY_VALUES:
            why = Why(worker.reason)  # the reason it was stopped for
        try:
            if worker.state != State.STOPPING:
                store.advance(self.holder, worker, {"state": State.STOPPING, "reason": why, "detail": stop.detail})
            if stop.deregister and worker.runner_id and worker.target:
                self._check_lease()
                try:
                    self.github.deregister(Target.loads(worker.target), int(worker.runner_id))
                except Busy:
                    # It just took a job. The pod's phase was read at the start of the pass and
                    # may be behind: only a pod known to be over is deleted all the same.
                    if pod is not None and pod.phase not in ("Succeeded", "Failed"):
                        store.advance(
                            self.holder, worker, {"state": State.RUNNING, "reason": ""}, started=True
                        )
                        report.kept.append(worker.name)
                        log.info("worker.kept worker=%s why=busy", worker.name)
                        return
                except RateLimited as exc:
                    self.paused[Target.loads(worker.target).installation_id] = exc.until
                    raise
                except GitHubError as exc:
                    if not _abandoned(worker, exc):
                        raise
                    # GitHub will never let this App delete it: the pod goes all the same.
                    log.warning("worker.deregister_abandoned worker=%s error=%s", worker.name, exc)
            tail = ""
            if pod is not None and pod.phase in ("Succeeded", "Failed"):
                tail = self.cluster.log_tail(worker.name, LOG_TAIL_LINES)[-LOG_TAIL_CHARS:]
            self._check_lease()
            self.cluster.delete_pod(worker.name)
        except (GitHubError, KubernetesError) as exc:
            # Left in `stopping`: the next pass takes it up again.
            log.warning("worker.stop_failed worker=%s why=%s error=%s", worker.name, why, exc)
            return
        exit_code = "" if pod is None or pod.exit_code is None else pod.exit_code
        store.finish(
            self.holder,
            worker,
            {"reason": why, "detail": stop.detail, "log_tail": tail, "exit_code": exit_code},
        )
        store.count({"runners_failed" if why in FAILURES else "runners_finished": 1, f"stopped:{why}": 1})
        report.stopped.append(worker.name)
        if why in FAILURES:
            report.failed.append(worker.name)
        log.info("worker.finished worker=%s why=%s detail=%s", worker.name, why, stop.detail or "-")

    def _discard(self, worker: Worker, why: str, report: PassReport) -> None:
        """Finish a reservation that certainly made nothing (GitHub refused the JIT call)."""
        store.finish(self.holder, worker, {"reason": why})
        store.count({"runners_failed": 1, f"stopped:{why}": 1})
        report.rolled_back.append(worker.name)
        log.info("worker.discarded worker=%s why=%s", worker.name, why)

    def _roll_back(self, worker: Worker, report: PassReport, why: str = Why.INTERRUPTED) -> None:
        """Undo a provisioning that stopped before its pod and secret were both made: its
        registration (found by name when the JIT reply never came), its pod, its secret."""
        try:
            if worker.target:
                target = Target.loads(worker.target)
                runner_id = int(worker.runner_id) if worker.runner_id else None
                if runner_id is None:
                    self._check_lease()
                    found = self.github.find(target, worker.name)
                    runner_id = found.runner_id if found else None
                if runner_id is not None:
                    self._check_lease()
                    self.github.deregister(target, runner_id)
            self._check_lease()
            self.cluster.delete_pod(worker.name)
            self.cluster.delete_secret(worker.name)
        except RateLimited as exc:
            if worker.target:
                self.paused[Target.loads(worker.target).installation_id] = exc.until
            log.warning("worker.rollback_deferred worker=%s why=rate_limited", worker.name)
            return
        except (GitHubError, KubernetesError) as exc:
            if not _abandoned(worker, exc):
                log.warning("worker.rollback_deferred worker=%s error=%s", worker.name, exc)
                return
            # GitHub will not let this App see the runner any more (uninstalled, suspended), or
            # the rollback kept failing for an hour: the record goes, and the orphan sweep
            # deletes whatever it can still reach.
            log.warning("worker.rollback_abandoned worker=%s error=%s", worker.name, exc)
            why = "rollback_abandoned"
        store.finish(self.holder, worker, {"reason": why})
        store.count({"runners_failed": 1, f"stopped:{why}": 1})
        report.rolled_back.append(worker.name)
        log.info("worker.rolled_back worker=%s why=%s", worker.name, why)

    # --- orphans ------------------------------------------------------------------------------

    def _sweep(self, kube_names: set[str], report: PassReport) -> None:
        """Pods and secrets labelled as this deployment's with no live worker, and offline
        GitHub runners with this deployment's name prefix that nothing tracks."""
        live = {worker.name for worker in store.read_workers()}
        for name in sorted(kube_names - live):
            try:
                self._check_lease()
                self.cluster.delete_pod(name)
                self.cluster.delete_secret(name)
            except KubernetesError as exc:
                log.warning("orphan.delete_failed pod=%s error=%s", name, exc)
                continue
            report.orphans.append(name)
            log.info("orphan.pod_deleted pod=%s", name)
        prefix = name_prefix()
        for entity_id, text in store.read_targets().items():
            target = Target.loads(text)
            if self.paused.get(target.installation_id, 0) > time.time():
                continue
            try:
                self._check_lease()
                strays = [
                    runner
                    for runner in self.github.runners(target)
                    if runner.name.startswith(prefix)
                    and runner.name not in live
                    and runner.status == "offline"
                    and not runner.busy
                ]
                for runner in strays:
                    self._check_lease()
                    self.github.deregister(target, runner.runner_id)
                    report.orphans.append(runner.name)
                    log.info("orphan.runner_deleted runner=%s target=%s", runner.name, target.label)
            except RateLimited as exc:
                self.paused[target.installation_id] = exc.until
            except NotFound:
                # Uninstalled, or the repository is gone: nothing of ours can be there now.
                store.forget_target(entity_id)
            except GitHubError as exc:
                log.warning("orphan.sweep_failed entity=%s error=%s", entity_id, exc)
        store.count({"orphans_deleted": len(report.orphans)} if report.orphans else {})
        store.forget_idle_consumers(idle_ms=86_400_000)

    # --- the loop -----------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Lead or stand by until `stop` is set; wake on the events stream or the interval."""
        renewer = threading.Thread(target=self._renew, args=(stop,), daemon=True)
        renewer.start()
        grouped = False
        try:
            while not stop.is_set():
                try:
                    if not grouped:
                        store.ensure_group()  # Redis may not answer yet: retried below
                        grouped = True
                    if not self.holder and not self.lead():
                        stop.wait(max(1.0, settings.SCHEDULER_LEASE_SECONDS / 3))
                        continue
                    ids = self._wait(stop)
                    self.run_pass()
                    store.acknowledge(ids)
                except Fenced:
                    self.holder = ""
                except store.StoreUnavailable:
                    stop.wait(2)
                except KubernetesError as exc:
                    log.error("scheduler.pass_failed error=%s", exc)
                    stop.wait(2)
        finally:
            try:
                self.resign()
            except store.StoreUnavailable:
                pass

    def _wait(self, stop: threading.Event) -> list[str]:
        """Until an event arrives or the interval passes. Short blocking reads: the Redis
        client's socket timeout is shorter than the interval."""
        deadline = time.monotonic() + settings.SCHEDULER_INTERVAL_SECONDS
        idle_ms = settings.SCHEDULER_LEASE_SECONDS * 1000
        while not stop.is_set():
            ids = store.wait_for_events(self.replica, block_seconds=1, idle_ms=idle_ms)
            if ids or time.monotonic() >= deadline:
                return ids
        return []

    def _renew(self, stop: threading.Event) -> None:
        """Renew the lease a few times per lease, whatever the pass is waiting on."""
        while not stop.wait(settings.SCHEDULER_LEASE_SECONDS / 3):
            if not self.holder:
                continue
            try:
                self.lead()
            except store.StoreUnavailable:
                pass


def _abandoned(worker: Worker, error: Exception) -> bool:
    """Whether a rollback that failed with `error` should stop trying."""
    if isinstance(error, GitHubError) and error.status in (401, 403, 404, 410):
        return True
    return time.time() - worker.created_at > ROLLBACK_GIVE_UP_SECONDS


def _reserved_worker(name: str, job: Job, target: Target) -> Worker:
    now = time.time()
    return Worker(
        name=name,
        state=State.RESERVED,
        owner_id=job.owner_id,
        entity_id=job.entity_id,
        pool=job.pool,
        image=job.image,
        labels=job.labels,
        created_at=now,
        updated_at=now,
        target=target.dumps(),
    )

