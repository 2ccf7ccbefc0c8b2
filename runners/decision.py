"""What the scheduler should do, decided from a snapshot of demand and supply alone.

Pure: no Redis, no GitHub, no Kubernetes. Given the active jobs, the live workers and their
pods, the caps and the clock, `decide` says which workers to link to their jobs, which to mark
running, which to stop and why, which interrupted provisionings to roll back or adopt, and which
runners to start. The scheduler then carries that out, each step checked again atomically.

A just-in-time runner only takes jobs whose labels it carries, so supply is matched to demand
per account, pool, image and exact label set: a runner registered for labels A never counts as
supply for jobs that asked for labels B, even in the same pool.
"""
import enum
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def label_set(labels: Iterable[str]) -> tuple[str, ...]:
    """A job's labels as a runner must carry them: lower case, sorted, without repeats.

    Only ASCII is lowered, exactly as the reservation script does in Lua.
    """
    return tuple(sorted({label.translate(_ASCII_LOWER) for label in labels}))


def label_key(labels: Iterable[str]) -> str:
    """`label_set` as one string, the form the worker hashes and the scripts compare."""
    return "\n".join(label_set(labels))


class State(enum.StrEnum):
    RESERVED = "reserved"  # recorded here; nothing asked of GitHub yet (or its answer lost)
    REGISTERED = "registered"  # GitHub gave a JIT config; pod and secret not yet recorded
    LAUNCHED = "launched"  # pod and secret created; the pod is not running yet
    RUNNING = "running"  # the pod runs: the runner is online, idle or on a job
    STOPPING = "stopping"  # being taken down: registration first, then the pod
    FINISHED = "finished"


# Workers that will take a job of their label set: those not yet running one.
SUPPLY_STATES = frozenset({State.RESERVED, State.REGISTERED, State.LAUNCHED, State.RUNNING})


class Why(enum.StrEnum):
    """Why a worker is stopped or rolled back; recorded on its hash as `reason`."""

    COMPLETED = "completed"  # its pod finished
    POD_FAILED = "pod_failed"
    START_TIMEOUT = "start_timeout"  # Pending longer than RUNNER_START_TIMEOUT
    IDLE = "idle"  # no job for RUNNER_IDLE_TIMEOUT while supply exceeded demand
    POD_GONE = "pod_gone"  # its pod disappeared (a node died, someone deleted it)
    INTERRUPTED = "interrupted"  # provisioning stopped half way (a crash, a failed call)
    STOP_RESUMED = "stop_resumed"  # a stop that a crash interrupted, finished now


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str  # pending | running
    owner_id: str  # the account (its worker cap)
    entity_id: str  # who owns runners: the organization, or the repository of a user
    entity_type: str  # organization | repository
    entity_name: str
    repo: str
    pool: str
    image: str
    labels: tuple[str, ...]  # label_set of the job's labels
    created_at: float
    installation_id: str = ""
    runner_name: str = ""
    mapping_id: str = ""
    last_news: float = 0.0  # the last delivery or reconciliation that said anything of it

    @property
    def group(self) -> "Group":
        return Group(self.entity_id, self.pool, self.image, self.labels)


@dataclass(frozen=True)
class Worker:
    name: str
    state: State
    owner_id: str
    entity_id: str
    pool: str
    image: str
    labels: tuple[str, ...]
    created_at: float
    updated_at: float  # when it reached its state
    job_id: str = ""
    runner_id: str = ""
    target: str = ""  # where it is registered on GitHub (github.Target, as JSON)
    reason: str = ""  # why it is being stopped, once it is

    @property
    def group(self) -> "Group":
        return Group(self.entity_id, self.pool, self.image, self.labels)


@dataclass(frozen=True)
class Pod:
    """What the scheduler needs to know of a runner's pod."""

    name: str
    phase: str  # Pending | Running | Succeeded | Failed | Unknown
    created_at: float
    reason: str = ""  # why it waits or why it ended (ImagePullBackOff, Error, DeadlineExceeded)
    exit_code: int | None = None


@dataclass(frozen=True)
class Group:
    """Jobs that one runner could serve, and the runners that could serve them."""

    entity_id: str
    pool: str
    image: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    start_timeout: float
    idle_timeout: float
    board_max_starting: int
    # Owner id to its cap; an account missing here has none. 0 means no new workers (blocked).
    account_caps: Mapping[str, int] = field(default_factory=dict)
    # Groups whose jobs reconciliation just found finished on GitHub: their runners in excess
    # go now, without waiting out the idle timeout.
    drained: frozenset["Group"] = frozenset()


@dataclass(frozen=True)
class Stop:
    worker: Worker
    why: Why
    detail: str = ""  # the pod's reason, for the worker hash
    deregister: bool = True  # False when the runner removed itself (an ephemeral one that ran)


@dataclass(frozen=True)
class Start:
    job: Job  # the oldest job of its group that no runner covers


@dataclass(frozen=True)
class Plan:
    links: tuple[tuple[Worker, str], ...] = ()  # worker, the job it runs
    started: tuple[Worker, ...] = ()  # pods that run now
    stops: tuple[Stop, ...] = ()
    rollbacks: tuple[Worker, ...] = ()  # provisioning interrupted before its pod and secret
    adoptions: tuple[Worker, ...] = ()  # interrupted after both were made: keep it
    starts: tuple[Start, ...] = ()
    shortfall: int = 0  # runners still missing after the starts (caps)


def decide(
    jobs: Sequence[Job],
    workers: Sequence[Worker],
    pods: Mapping[str, Pod],
    secrets: frozenset[str],
    limits: Limits,
    now: float,
) -> Plan:
    """The plan for one pass, from a snapshot read at its start.

    Every worker read in state reserved or registered was left half provisioned by an earlier
    pass or leader (a pass finishes what it starts), so it is adopted when both its pod and
    secret exist and rolled back otherwise.
    """
    running_job_of = {job.runner_name: job.job_id for job in jobs if job.runner_name}
    links: list[tuple[Worker, str]] = []
    started: list[Worker] = []
    stops: list[Stop] = []
    rollbacks: list[Worker] = []
    adoptions: list[Worker] = []
    supply: dict[Group, list[Worker]] = defaultdict(list)
    live_per_account: dict[str, int] = defaultdict(int)
    starting_per_board: dict[str, int] = defaultdict(int)

    for worker in workers:
        pod = pods.get(worker.name)
        job_id = worker.job_id or running_job_of.get(worker.name, "")
        if job_id and not worker.job_id:
            links.append((worker, job_id))
        stop = _stop(worker, pod, job_id, limits, now)
        if stop is not None:
            stops.append(stop)
            continue
        if worker.state in (State.RESERVED, State.REGISTERED):
            if pod is not None and worker.name in secrets:
                adoptions.append(worker)
            else:
                rollbacks.append(worker)
                continue
        runs_now = worker.state == State.LAUNCHED and pod is not None and pod.phase == "Running"
        if runs_now:
            started.append(worker)
        live_per_account[worker.owner_id] += 1
        if worker.state != State.RUNNING and not runs_now:
            starting_per_board[worker.pool] += 1
        if not job_id:
            supply[worker.group].append(worker)

    pending: dict[Group, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.status == "pending":
            pending[job.group].append(job)

    stops.extend(_idle_reaping(supply, pending, pods, limits, now))
    stopped = {stop.worker.name for stop in stops}

    # The jobs no runner covers: in each group, the oldest are covered by its idle supply.
    uncovered: dict[str, deque[Job]] = defaultdict(deque)
    for group, waiting in pending.items():
        available = sum(1 for worker in supply.get(group, ()) if worker.name not in stopped)
        for job in sorted(waiting, key=lambda job: (job.created_at, job.job_id))[available:]:
            uncovered[job.owner_id].append(job)
    for queue in uncovered.values():  # oldest first within each account, across its groups
        queue_sorted = sorted(queue, key=lambda job: (job.created_at, job.job_id))
        queue.clear()
        queue.extend(queue_sorted)
    starts, missing = _round_robin(uncovered, live_per_account, starting_per_board, limits)
    return Plan(
        links=tuple(links),
        started=tuple(started),
        stops=tuple(stops),
        rollbacks=tuple(rollbacks),
        adoptions=tuple(adoptions),
        starts=tuple(starts),
        shortfall=missing,
    )


def _stop(worker: Worker, pod: Pod | None, job_id: str, limits: Limits, now: float) -> Stop | None:
    """Whether this worker's pod says it is done, stuck or gone."""
    if worker.state == State.STOPPING:
        return Stop(worker, Why.STOP_RESUMED)
    if worker.state in (State.RESERVED, State.REGISTERED):
        return None  # rolled back or adopted
    if pod is None:
        return Stop(worker, Why.POD_GONE)
    if pod.phase == "Succeeded":
        # An ephemeral runner exits (and its pod succeeds) only after its one job, once it has
        # removed its own registration; the orphan sweep catches one that did not.
        return Stop(worker, Why.COMPLETED, pod.reason, deregister=False)
    if pod.phase in ("Failed", "Unknown"):
        return Stop(worker, Why.POD_FAILED, pod.reason or pod.phase)
    if pod.phase == "Pending" and now - worker.updated_at > limits.start_timeout:
        return Stop(worker, Why.START_TIMEOUT, pod.reason)
    return None


def _idle_reaping(
    supply: Mapping[Group, list[Worker]],
    pending: Mapping[Group, list[Job]],
    pods: Mapping[str, Pod],
    limits: Limits,
    now: float,
) -> list[Stop]:
    """Running workers idle past the timeout (any idle one in a drained group), while their
    group has more runners than jobs; the longest idle first, never more than the excess."""
    stops = []
    for group, workers in supply.items():
        waiting = pending.get(group, ())
        excess = len(workers) - len(waiting)
        if excess <= 0:
            stops.extend(_not_taking_jobs(workers, waiting, limits, now))
            continue
        drained = group in limits.drained
        idle = sorted(
            (
                worker
                for worker in workers
                if (worker.state == State.RUNNING and now - worker.updated_at > limits.idle_timeout)
                or (drained and worker.state in (State.RUNNING, State.LAUNCHED))
            ),
            key=lambda worker: worker.updated_at,
        )
        stops.extend(Stop(worker, Why.IDLE) for worker in idle[:excess])
    return stops


def _not_taking_jobs(
    workers: Sequence[Worker], waiting: Sequence[Job], limits: Limits, now: float
) -> list[Stop]:
    """Running workers that stayed idle for the whole idle timeout while a job they could take
    waited all along: their runner never came online (a broken image, no network). They are
    replaced rather than left to cover those jobs until the pod's deadline."""
    oldest = min((job.created_at for job in waiting), default=now)
    return [
        Stop(worker, Why.IDLE, "not taking jobs")
        for worker in workers
        if worker.state == State.RUNNING
        and now - worker.updated_at > limits.idle_timeout
        and oldest < worker.updated_at
    ]


def _round_robin(
    uncovered: Mapping[str, deque[Job]],
    live_per_account: Mapping[str, int],
    starting_per_board: Mapping[str, int],
    limits: Limits,
) -> tuple[list[Start], int]:
    """One start per account in turn, the account whose oldest job has waited longest first,
    so that one busy account cannot starve the others; within the caps."""
    live = dict(live_per_account)
    starting = dict(starting_per_board)
    queues = {owner: deque(jobs) for owner, jobs in uncovered.items() if jobs}
    starts: list[Start] = []
    missing = sum(len(jobs) for jobs in queues.values())
    while queues:
        for owner in sorted(queues, key=lambda owner: queues[owner][0].created_at):
            queue = queues[owner]
            cap = limits.account_caps.get(owner)
            if cap is not None and live.get(owner, 0) >= cap:
                del queues[owner]
                continue
            # A full board skips its jobs and lets the account's jobs on other boards through.
            while queue and starting.get(queue[0].pool, 0) >= limits.board_max_starting:
                queue.popleft()
            if not queue:
                del queues[owner]
                continue
            job = queue.popleft()
            starts.append(Start(job))
            live[owner] = live.get(owner, 0) + 1
            starting[job.pool] = starting.get(job.pool, 0) + 1
            if not queue:
                del queues[owner]
    return starts, missing - len(starts)
