"""`manage.py run_scheduler`: the scheduler's process. All its work is in runners.scheduler."""
import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runners import config
from runners.scheduler import Scheduler
from runners.store import Fenced

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Turn recorded demand into ephemeral runners: register them with GitHub and run them "
        "as pods, one job each. Any number of replicas may run; one leads at a time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Run a single pass (waiting up to one lease for the lead) and exit.",
        )

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        missing = config.missing_settings()
        if missing:
            raise CommandError(missing)
        scheduler = Scheduler()
        if once:
            self._once(scheduler)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        log.info("scheduler.started replica=%s", scheduler.replica)
        scheduler.run_forever(stop)
        log.info("scheduler.stopped replica=%s", scheduler.replica)

    def _once(self, scheduler: Scheduler) -> None:
        if not scheduler.wait_to_lead():
            raise CommandError("another replica holds the lease; nothing was done")
        try:
            report = scheduler.run_pass()
        except Fenced:
            raise CommandError("the lease was lost during the pass") from None
        finally:
            scheduler.resign()
        self.stdout.write(
            f"started {len(report.started)}, stopped {len(report.stopped)}, "
            f"rolled back {len(report.rolled_back)}, orphans {len(report.orphans)}, "
            f"shortfall {report.plan.shortfall if report.plan else 0}"
        )
