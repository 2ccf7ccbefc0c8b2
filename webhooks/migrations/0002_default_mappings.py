"""The public RunnerHub labels, present on every fresh install."""
from django.db import migrations

REGISTRY = "rg.fr-par.scw.cloud/riseproject/riscv-runner"
POOLS = {"": "scw-em-rv1", "-2xlarge": "cloudv10x-pioneer", "-rvv": "cloudv10x-rvv"}
RELEASES = ("24.04", "26.04")


def defaults() -> list[dict[str, str]]:
    return [
        {
            "label": f"ubuntu-{release}-riscv{suffix}",
            "pool": pool,
            "image": f"{REGISTRY}:ubuntu-{release}-latest",
        }
        for release in RELEASES
        for suffix, pool in POOLS.items()
    ]


def add_defaults(apps, schema_editor):
    LabelMapping = apps.get_model("webhooks", "LabelMapping")
    for row in defaults():
        LabelMapping.objects.get_or_create(
            label=row["label"], owner_id=None, repo_glob="", defaults=row
        )


def remove_defaults(apps, schema_editor):
    LabelMapping = apps.get_model("webhooks", "LabelMapping")
    for row in defaults():
        LabelMapping.objects.filter(owner_id=None, repo_glob="", **row).delete()


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
