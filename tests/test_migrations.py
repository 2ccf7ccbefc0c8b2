"""The migrations, on whichever database the tests run: SQLite by default, PostgreSQL under
`make test-postgres` (DATABASE_URL), as production runs."""
import io
import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from webhooks.models import LabelMapping

pytestmark = pytest.mark.django_db


def test_the_tests_run_on_the_database_that_database_url_names() -> None:
    url = os.environ.get("DATABASE_URL", "sqlite://")
    assert connection.vendor == ("postgresql" if url.startswith("postgres") else "sqlite")


def test_every_migration_is_applied_to_the_test_database() -> None:
    executor = MigrationExecutor(connection)

    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def test_the_models_need_no_migration_that_is_not_written() -> None:
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


# serialized_rollback: the default mappings, written by a data migration, are put back after.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migrations_run_backwards_and_forwards() -> None:
    call_command("migrate", "webhooks", "zero", verbosity=0)
    call_command("migrate", verbosity=0)

    assert LabelMapping.objects.filter(label="ubuntu-24.04-riscv").exists()
