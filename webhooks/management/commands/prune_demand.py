from typing import Any

from django.core.management.base import BaseCommand

from webhooks import store


class Command(BaseCommand):
    help = (
        "Remove from the pool sets the jobs that expired without a completed delivery "
        "(lost for good), so they stop counting as demand. Safe to run at any time, e.g. daily."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = store.prune_demand()
        for pool, count in removed.items():
            self.stdout.write(f"{pool}: removed {count}")
        self.stdout.write(f"pruned {sum(removed.values())} stale jobs from {len(removed)} pools")
