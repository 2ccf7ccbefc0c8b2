import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import LabelMappingFactory
from webhooks.models import LabelMapping

pytestmark = pytest.mark.django_db

IMAGE = "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest"


def test_a_fresh_install_has_the_six_public_labels() -> None:
    rows = set(LabelMapping.objects.values_list("label", "pool", "image", "owner_id", "enabled"))
    registry = "rg.fr-par.scw.cloud/riseproject/riscv-runner"
    assert rows == {
        ("ubuntu-24.04-riscv", "scw-em-rv1", f"{registry}:ubuntu-24.04-latest", None, True),
        ("ubuntu-24.04-riscv-2xlarge", "cloudv10x-pioneer", f"{registry}:ubuntu-24.04-latest", None, True),
        ("ubuntu-24.04-riscv-rvv", "cloudv10x-rvv", f"{registry}:ubuntu-24.04-latest", None, True),
        ("ubuntu-26.04-riscv", "scw-em-rv1", f"{registry}:ubuntu-26.04-latest", None, True),
        ("ubuntu-26.04-riscv-2xlarge", "cloudv10x-pioneer", f"{registry}:ubuntu-26.04-latest", None, True),
        ("ubuntu-26.04-riscv-rvv", "cloudv10x-rvv", f"{registry}:ubuntu-26.04-latest", None, True),
    }


@pytest.mark.parametrize(
    "image",
    [
        IMAGE,
        "registry.example.com:5000/riscv/runner:v1.2.3",
        "rg.fr-par.scw.cloud/riseproject/riscv-runner@sha256:" + "a" * 64,
        "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04@sha256:" + "0" * 64,
    ],
)
def test_valid_images_pass(image: str) -> None:
    LabelMapping(label="x-riscv", pool="scw-em-rv1", image=image).full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image", "riscv-runner"),
        ("image", "rg.fr-par.scw.cloud/riseproject/riscv-runner"),
        ("image", "rg.fr-par.scw.cloud/riseproject/riscv-runner@sha256:abc"),
        ("image", "Rg.Example/UPPER:tag"),
        ("pool", "-starts-with-dash"),
        ("pool", "has space"),
        ("pool", "x" * 64),
        ("label", "has space"),
        ("label", ""),
        ("extra_labels", "self-hosted"),
        ("extra_labels", ["ok", "not ok"]),
    ],
)
def test_invalid_values_are_refused_with_the_field_named(field: str, value: object) -> None:
    mapping = LabelMapping(label="x-riscv", pool="scw-em-rv1", image=IMAGE)
    setattr(mapping, field, value)
    with pytest.raises(ValidationError) as error:
        mapping.full_clean()
    assert field in error.value.message_dict


def test_a_repository_glob_needs_an_account() -> None:
    mapping = LabelMapping(label="x-riscv", pool="p", image=IMAGE, repo_glob="llama*")
    with pytest.raises(ValidationError) as error:
        mapping.full_clean()
    assert "repo_glob" in error.value.message_dict or "__all__" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        LabelMapping.objects.create(label="x-riscv", pool="p", image=IMAGE, repo_glob="llama*")


def test_two_enabled_mappings_may_not_tie_for_a_label_and_scope() -> None:
    LabelMappingFactory(label="tie-riscv", owner_id=5)
    twin = LabelMapping(label="TIE-riscv", pool="p", image=IMAGE, owner_id=5)
    with pytest.raises(ValidationError):
        twin.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_two_enabled_global_mappings_may_not_tie() -> None:
    twin = LabelMapping(label="ubuntu-24.04-riscv", pool="p", image=IMAGE)
    with pytest.raises(ValidationError) as error:
        twin.full_clean()
    assert "label" in error.value.message_dict


def test_a_disabled_twin_is_allowed() -> None:
    LabelMapping(label="ubuntu-24.04-riscv", pool="p", image=IMAGE, enabled=False).full_clean()


def test_clean_normalises_extra_labels() -> None:
    mapping = LabelMapping(
        label="x-riscv", pool="p", image=IMAGE, extra_labels=["Self-Hosted", "linux", "self-hosted"]
    )
    mapping.full_clean()
    assert mapping.extra_labels == ["linux", "self-hosted"]
