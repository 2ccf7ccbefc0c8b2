"""Every Redis key RunnerHub uses, spelled in this module and nowhere else.

`env` is the deployment (`prod` or `staging`), so both can share one Redis.
"""
import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    env: str

    def pattern(self, key: Callable[..., str]) -> str:
        """`key`, one of the methods below, as a Lua `string.format` pattern: `%s` for each of its
        arguments, for scripts that spell the keys of the ids they read."""
        return key(*["%s"] * len(inspect.signature(key).parameters))

    def job(self, job_id: int | str) -> str:
        """HASH: one job's record."""
        return f"{self.env}:job:{job_id}"

    def pool_jobs(self, entity_id: int | str, pool: str) -> str:
        """SET: ids of a pool's pending and running jobs, the demand."""
        return f"{self.env}:pool:{entity_id}:{pool}:jobs"

    def pool_workers(self, entity_id: int | str, pool: str) -> str:
        """SET: runner pod names of a pool, written by the scheduler."""
        return f"{self.env}:pool:{entity_id}:{pool}:workers"

    @property
    def pools(self) -> str:
        """SET: `{entity_id}:{pool}` of every pool ever seen, so pages never SCAN."""
        return f"{self.env}:pools"

    @property
    def history(self) -> str:
        """ZSET: job ids scored by created_at."""
        return f"{self.env}:history"

    @property
    def events(self) -> str:
        """STREAM: one entry per job transition, read by schedulers."""
        return f"{self.env}:events"

    @property
    def deliveries(self) -> str:
        """STREAM (capped): one entry per webhook delivery."""
        return f"{self.env}:deliveries"

    @property
    def stats(self) -> str:
        """HASH: delivery counters by outcome and reason."""
        return f"{self.env}:stats"

    @property
    def config_version(self) -> str:
        """STRING: bumped whenever label mappings or accounts change."""
        return f"{self.env}:config:version"

    # The scheduler's keys: workers (runner pods), the leader's lease, its counters.

    def worker(self, name: str) -> str:
        """HASH: one worker (an ephemeral runner and its pod), written by the scheduler."""
        return f"{self.env}:worker:{name}"

    def account_workers(self, owner_id: int | str) -> str:
        """SET: names of an account's live workers in every pool, for its worker cap."""
        return f"{self.env}:account:{owner_id}:workers"

    def board_starting(self, pool: str) -> str:
        """SET: names of the workers of a node pool whose pod is not running yet, for
        POOL_MAX_PENDING_PODS (across accounts: the boards are shared)."""
        return f"{self.env}:board:{pool}:starting"

    @property
    def workers(self) -> str:
        """SET: names of every live worker (not finished), so nothing SCANs for them."""
        return f"{self.env}:workers"

    @property
    def scheduler_lease(self) -> str:
        """STRING (with expiry): `{replica} {fencing token}` of the leading scheduler."""
        return f"{self.env}:scheduler:lease"

    @property
    def scheduler_fence(self) -> str:
        """STRING: the last fencing token handed out; each new leader takes the next."""
        return f"{self.env}:scheduler:fence"

    @property
    def scheduler_state(self) -> str:
        """HASH: the leader's last pass (time, replica, duration) and its sweeps' times."""
        return f"{self.env}:scheduler:state"

    @property
    def scheduler_stats(self) -> str:
        """HASH: the scheduler's counters (runners started, failed, GitHub calls, ...)."""
        return f"{self.env}:scheduler:stats"

    @property
    def github_limits(self) -> str:
        """HASH: per installation, the rate limit GitHub reported last (JSON)."""
        return f"{self.env}:github:limits"

    @property
    def github_targets(self) -> str:
        """HASH: entity id to where its runners are registered (JSON), for the orphan sweep."""
        return f"{self.env}:github:targets"

    @property
    def github_cache_prefix(self) -> str:
        """Prefix of githubkit's cache (installation tokens), shared by every replica."""
        return f"{self.env}:github:cache"

    def github_spent(self, installation: str, window: int) -> str:
        """STRING (with expiry): calls reconciliation spent of an installation's rate-limit
        window (`window`: the epoch at which GitHub resets it)."""
        return f"{self.env}:github:spent:{installation}:{window}"

    def runner_group(self, org: str) -> str:
        """STRING (with expiry): the id of RUNNER_GROUP in an organization."""
        return f"{self.env}:github:group:{org.lower()}"

    @property
    def redelivered(self) -> str:
        """HASH: delivery guid to how many redeliveries were asked for it, and of which attempt."""
        return f"{self.env}:github:redelivered"

    @property
    def events_group(self) -> str:
        """The consumer group of the events stream that schedulers read."""
        return "scheduler"


def pool_member(entity_id: int | str, pool: str) -> str:
    """A member of the `pools` set."""
    return f"{entity_id}:{pool}"


def split_pool_member(member: str) -> tuple[str, str]:
    entity_id, _, pool = member.partition(":")
    return entity_id, pool
