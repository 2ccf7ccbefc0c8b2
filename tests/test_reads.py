import ast
import time
from pathlib import Path

import pytest

from tests.reports_support import Clock, job_id, run_job
from webhooks import reads

pytestmark = pytest.mark.django_db

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def test_the_reports_read_through_the_read_module_and_never_spell_a_key():
    imported = set()
    for source in REPORTS.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}

    assert "webhooks.reads" in imported
    assert not {name for name in imported if name.startswith(("webhooks.store", "webhooks.keys"))}


def test_it_reads_the_pools_and_the_history_of_what_was_delivered(deliver, monkeypatch):
    clock = Clock(monkeypatch)
    now = time.time()
    older = run_job(deliver, clock, now - 120, waited=5, ran=5)
    newer = run_job(deliver, clock, now - 60)

    pools = reads.read_pools()
    [(count, after)] = reads.count_history([(now - 3600, now)])

    # The completed job has left its pool; the pending one is its pool's demand.
    assert [job for pool in pools for job in pool.job_ids] == [job_id(newer)]
    assert (count, after) == (2, 0)
    assert reads.read_history_ids(now - 3600, now, 0, 10) == [job_id(newer), job_id(older)]
    assert reads.read_history_ranks([(1, 1)]) == [[job_id(older)]]
    [record] = reads.read_jobs([job_id(older)], ("status",))
    assert record == {"status": "completed"}
