"""Models validate twice: the database refuses what clean() would have refused."""
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from harness.factories import AccountFactory, LabelMappingFactory
from webhooks.matching import Scope, compile_rules
from webhooks.models import Account, LabelMapping

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {"github_id": 0},
        {"github_id": -5},
        {"login": ""},
        {"type": "Enterprise"},
        {"max_workers": 0},
    ],
)
def test_the_database_refuses_an_invalid_account(fields: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountFactory(**fields)


def test_the_database_refuses_two_accounts_with_one_github_id() -> None:
    AccountFactory(github_id=42)

    with pytest.raises(IntegrityError), transaction.atomic():
        AccountFactory(github_id=42)


def test_full_clean_explains_an_invalid_account() -> None:
    account = Account(github_id=0, login="riscv org", type="Enterprise", max_workers=0)

    with pytest.raises(ValidationError) as raised:
        account.full_clean()

    errors = raised.value.message_dict
    assert set(errors) == {"github_id", "login", "type", "max_workers"}
    assert errors["max_workers"] == [
        "At least 1 worker; leave it empty for no limit, or block the account."
    ]


def test_an_account_holds_a_64_bit_id_and_no_worker_cap() -> None:
    account = AccountFactory(github_id=2**63 - 1, max_workers=None)
    account.full_clean()

    account.refresh_from_db()
    assert (account.github_id, account.max_workers) == (2**63 - 1, None)
    assert str(account) == f"{account.login} ({2**63 - 1})"


@pytest.mark.parametrize(
    "scope",
    [{}, {"owner_id": 7}, {"owner_id": 7, "repo_glob": "linux-*"}],
    ids=["global", "account", "repository"],
)
def test_the_database_refuses_two_enabled_mappings_that_would_tie(scope: dict[str, Any]) -> None:
    LabelMappingFactory(label="rv-board", priority=5, **scope)

    with pytest.raises(IntegrityError), transaction.atomic():
        LabelMappingFactory(label="RV-BOARD", priority=5, **scope)


@pytest.mark.parametrize(
    "other",
    [{"priority": 6}, {"enabled": False}, {"owner_id": 8}, {"label": "rv-board-2"}],
    ids=["another priority", "disabled", "another scope", "another label"],
)
def test_mappings_that_would_not_tie_may_coexist(other: dict[str, Any]) -> None:
    LabelMappingFactory(label="rv-board", priority=5)
    second = LabelMappingFactory(**{"label": "rv-board", "priority": 5, **other})

    second.full_clean()


def test_a_tie_is_found_by_full_clean_with_the_other_mapping_named() -> None:
    first = LabelMappingFactory(label="rv-board", pool="one", priority=5)
    second = LabelMapping(label="Rv-Board", pool="two", image=first.image, priority=5)

    with pytest.raises(ValidationError) as raised:
        second.full_clean()

    assert raised.value.message_dict == {
        "label": [
            f"Mapping #{first.pk} (rv-board → one) is enabled with the same label, scope and "
            "priority 5: the two would tie. Give one of them another priority, or disable one."
        ]
    }


def test_a_mapping_owner_id_is_a_positive_64_bit_id() -> None:
    mapping = LabelMapping(label="rv", pool="p", image="r.example/p/i:t", owner_id=0)

    with pytest.raises(ValidationError) as raised:
        mapping.full_clean()

    assert set(raised.value.message_dict) == {"owner_id"}


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


def test_the_database_gives_each_mapping_the_scope_matching_gives_it() -> None:
    LabelMapping.objects.all().delete()
    LabelMappingFactory(label="everyone")
    LabelMappingFactory(label="one-account", owner_id=9100000001)
    LabelMappingFactory(label="some-repositories", owner_id=9100000001, repo_glob="linux-*")

    annotated = {m.label: m.scope for m in LabelMapping.objects.with_scope()}
    rules = {rule.label: rule.scope for rule in compile_rules(LabelMapping.objects.all())}

    assert annotated == rules == {
        "everyone": Scope.GLOBAL,
        "one-account": Scope.ACCOUNT,
        "some-repositories": Scope.REPOSITORY,
    }
    assert list(LabelMapping.objects.with_scope().filter(scope=Scope.ACCOUNT)) == [
        LabelMapping.objects.get(label="one-account")
    ]
