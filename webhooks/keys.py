"""Every Redis key RunnerHub uses, spelled in this module and nowhere else.

`env` is the deployment (`prod` or `staging`), so both can share one Redis.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    env: str

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
    def job_pattern(self) -> str:
        """`job` as a Lua `string.format` pattern."""
        return self.job("%s")

    @property
    def pool_jobs_pattern(self) -> str:
        """`pool_jobs` as a Lua `string.format` pattern, for jobs whose pool the script reads."""
        return self.pool_jobs("%s", "%s")

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


def pool_member(entity_id: int | str, pool: str) -> str:
    """A member of the `pools` set."""
    return f"{entity_id}:{pool}"


def split_pool_member(member: str) -> tuple[str, str]:
    entity_id, _, pool = member.partition(":")
    return entity_id, pool
