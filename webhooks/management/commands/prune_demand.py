from typing import Any

from django.core.management.base import BaseCommand

from webhooks import store


class Command(BaseCommand):
    help = (
        "Remove from the pool sets the jobs that expired without a completed delivery "
        "(lost for good), so they stop counting as demand; drop pools with neither jobs nor "
        "workers, and history entries whose job expired. Safe to run at any time, e.g. daily."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = store.prune_demand()
        for pool, count in pruned.jobs.items():
            self.stdout.write(f"{pool}: removed {count}")
        self.stdout.write(
            f"pruned {sum(pruned.jobs.values())} stale jobs from {len(pruned.jobs)} pools, "
            f"{len(pruned.pools)} idle pools, {pruned.history} orphan history entries"
        )
