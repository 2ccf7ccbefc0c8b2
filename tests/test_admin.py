"""The admin for label mappings and accounts: pages, validation, actions, access."""
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from harness.factories import AccountFactory, LabelMappingFactory
from webhooks import store
from webhooks.models import Account, LabelMapping

pytestmark = pytest.mark.django_db

MAPPINGS = reverse("admin:webhooks_labelmapping_changelist")
ACCOUNTS = reverse("admin:webhooks_account_changelist")
IMAGE = "rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest"
DIGEST = "a" * 64


def mapping_form(**fields: Any) -> dict[str, Any]:
    return {
        "label": "ubuntu-24.04-riscv-test",
        "extra_labels": "",
        "pool": "scw-em-rv1",
        "image": IMAGE,
        "owner_id": "",
        "repo_glob": "",
        "priority": "100",
        "enabled": "on",
        "note": "",
        **fields,
    }


def account_form(**fields: Any) -> dict[str, Any]:
    return {
        "github_id": "9100000001",
        "login": "riscv-org",
        "type": "Organization",
        "max_workers": "",
        "note": "",
        **fields,
    }


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# Access


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        MAPPINGS,
        ACCOUNTS,
        reverse("admin:webhooks_labelmapping_add"),
        reverse("admin:webhooks_account_add"),
    ],
)
def test_an_anonymous_user_is_sent_to_the_login_page(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_the_admin_is_branded_runnerhub(admin_client: Client) -> None:
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert "RunnerHub administration" in response.content.decode()
    assert "<title>Label mappings and accounts | RunnerHub</title>" in response.content.decode()


# Label mappings: list, filters, search


def test_the_mapping_list_shows_label_scope_pool_image_priority_enabled_and_last_change(
    admin_client: Client,
) -> None:
    response = admin_client.get(MAPPINGS)

    page = response.content.decode()
    assert response.status_code == 200
    for column in ("Label", "Scope", "Pool", "Image", "Priority", "Enabled", "Last change"):
        assert f">{column}</a>" in page
    assert "ubuntu-24.04-riscv-2xlarge" in page
    assert "cloudv10x-pioneer" in page


def test_the_mapping_list_names_the_account_of_a_scoped_mapping(admin_client: Client) -> None:
    AccountFactory(github_id=9100000001, login="riscv-org")
    LabelMappingFactory(owner_id=9100000001, repo_glob="linux-*")
    LabelMappingFactory(owner_id=9100000002)

    page = admin_client.get(MAPPINGS).content.decode()

    assert "repository riscv-org/linux-*" in page
    assert "account 9100000002" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ("scope=global", {"ubuntu-24.04-riscv", "global-only", "disabled-only"}),
        ("scope=account", {"account-only"}),
        ("scope=repository", {"repository-only"}),
        ("enabled__exact=0", {"disabled-only"}),
        ("pool=pool-b", {"account-only"}),
        ("q=repository-only", {"repository-only"}),
        ("q=9100000001", {"account-only", "repository-only"}),
        ("q=riscv-org", {"account-only", "repository-only"}),
    ],
)
def test_the_mapping_list_filters_and_searches(
    admin_client: Client, query: str, expected: set[str]
) -> None:
    LabelMapping.objects.exclude(label="ubuntu-24.04-riscv").delete()
    AccountFactory(github_id=9100000001, login="riscv-org")
    LabelMappingFactory(label="global-only", pool="pool-a")
    LabelMappingFactory(label="account-only", pool="pool-b", owner_id=9100000001)
    LabelMappingFactory(label="repository-only", owner_id=9100000001, repo_glob="linux-*")
    LabelMappingFactory(label="disabled-only", enabled=False)

    response = admin_client.get(f"{MAPPINGS}?{query}")

    assert response.status_code == 200
    assert {mapping.label for mapping in response.context["cl"].result_list} == expected


# Label mappings: forms and validation


def test_the_mapping_forms_open(admin_client: Client) -> None:
    mapping = LabelMappingFactory(extra_labels=["self-hosted", "linux"])

    add = admin_client.get(reverse("admin:webhooks_labelmapping_add"))
    change = admin_client.get(reverse("admin:webhooks_labelmapping_change", args=[mapping.pk]))

    assert add.status_code == 200
    assert change.status_code == 200
    assert 'value="self-hosted, linux"' in change.content.decode()
    assert "registry/path@sha256: followed by the 64 hex digits" in add.content.decode()


def test_a_mapping_saved_in_the_admin_is_stored_and_moves_the_config_version(
    admin_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:webhooks_labelmapping_add"),
            mapping_form(
                extra_labels="Self-Hosted, linux", owner_id="9100000001", repo_glob="linux-*"
            ),
        )

    assert response.status_code == 302
    mapping = LabelMapping.objects.get(label="ubuntu-24.04-riscv-test")
    assert mapping.extra_labels == ["linux", "self-hosted"]
    assert (mapping.owner_id, mapping.repo_glob) == (9100000001, "linux-*")
    assert store.config_version() != before


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"label": "ubuntu 24.04"}, "ubuntu 24.04 is not a runner label"),
        ({"label": ""}, "This field is required."),
        ({"extra_labels": "self hosted"}, "self hosted is not a runner label"),
        ({"pool": "-scw-"}, "-scw- is not a valid Kubernetes label value"),
        ({"pool": "board_" + "x" * 60}, "Ensure this value has at most 63 characters"),
        ({"pool": "scw em"}, "scw em is not a valid Kubernetes label value"),
        ({"image": "riscv-runner"}, "riscv-runner is not an image reference"),
        ({"image": "rg.fr-par.scw.cloud/riscv-runner"}, "is not an image reference"),
        ({"image": "rg.fr-par.scw.cloud/r/riscv-runner@sha256:abc"}, "is not an image reference"),
        ({"repo_glob": "linux-*"}, "A repository glob needs an account (owner id)."),
        ({"owner_id": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"label": "ubuntu-24.04-riscv"}, "the two would tie"),
        ({"label": "UBUNTU-24.04-RISCV"}, "the two would tie"),
    ],
)
def test_each_mapping_validation_error_is_shown_on_the_form(
    admin_client: Client, fields: dict[str, str], message: str
) -> None:
    response = admin_client.post(reverse("admin:webhooks_labelmapping_add"), mapping_form(**fields))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["adminform"].form.errors
    assert not LabelMapping.objects.filter(pool="pool-should-not-exist").exists()


def test_a_mapping_pinned_by_digest_is_accepted(admin_client: Client) -> None:
    image = f"rg.fr-par.scw.cloud/riseproject/riscv-runner@sha256:{DIGEST}"

    response = admin_client.post(
        reverse("admin:webhooks_labelmapping_add"), mapping_form(image=image)
    )

    assert response.status_code == 302
    assert LabelMapping.objects.get(label="ubuntu-24.04-riscv-test").image == image


def test_the_same_label_and_scope_may_repeat_with_another_priority(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:webhooks_labelmapping_add"),
        mapping_form(
            label="ubuntu-24.04-riscv", priority="50", extra_labels="gpu", pool="gpu-board"
        ),
    )

    assert response.status_code == 302
    assert LabelMapping.objects.filter(label="ubuntu-24.04-riscv").count() == 2


def test_the_tie_message_names_the_other_mapping(admin_client: Client) -> None:
    other = LabelMapping.objects.get(label="ubuntu-24.04-riscv")

    response = admin_client.post(
        reverse("admin:webhooks_labelmapping_add"), mapping_form(label="ubuntu-24.04-riscv")
    )

    assert f"Mapping #{other.pk} (ubuntu-24.04-riscv → scw-em-rv1)" in response.content.decode()


def test_a_disabled_mapping_may_share_label_scope_and_priority(admin_client: Client) -> None:
    form = mapping_form(label="ubuntu-24.04-riscv")
    del form["enabled"]

    response = admin_client.post(reverse("admin:webhooks_labelmapping_add"), form)

    assert response.status_code == 302


def test_the_change_form_links_the_scoped_account_or_offers_to_add_it(admin_client: Client) -> None:
    account = AccountFactory(github_id=9100000001, login="riscv-org")
    known = LabelMappingFactory(owner_id=9100000001)
    unknown = LabelMappingFactory(owner_id=9100000009)

    known_page = admin_client.get(reverse("admin:webhooks_labelmapping_change", args=[known.pk]))
    unknown_page = admin_client.get(
        reverse("admin:webhooks_labelmapping_change", args=[unknown.pk])
    )

    account_url = reverse("admin:webhooks_account_change", args=[account.pk])
    assert f"<a href='{account_url}'>riscv-org</a>" in known_page.content.decode()
    add_url = reverse("admin:webhooks_account_add")
    assert f"<a href='{add_url}?github_id=9100000009'>add one</a>" in unknown_page.content.decode()


def test_deleting_a_mapping_in_the_admin_moves_the_config_version(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    mapping = LabelMappingFactory()
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:webhooks_labelmapping_delete", args=[mapping.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    assert not LabelMapping.objects.filter(pk=mapping.pk).exists()
    assert store.config_version() != before


def test_deleting_mappings_with_the_bulk_action_moves_the_config_version(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    mappings = LabelMappingFactory.create_batch(2)
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            MAPPINGS,
            {
                "action": "delete_selected",
                "_selected_action": [m.pk for m in mappings],
                "post": "yes",
            },
        )

    assert not LabelMapping.objects.filter(pk__in=[m.pk for m in mappings]).exists()
    assert store.config_version() != before


# Label mappings: actions


def test_the_disable_action_disables_and_says_so(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    mappings = [LabelMappingFactory(label="rv-a"), LabelMappingFactory(label="rv-b")]
    already = LabelMappingFactory(label="rv-c", enabled=False)
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            MAPPINGS,
            {
                "action": "disable_mappings",
                "_selected_action": [m.pk for m in [*mappings, already]],
            },
            follow=True,
        )

    assert not LabelMapping.objects.filter(
        label__in=["rv-a", "rv-b", "rv-c"], enabled=True
    ).exists()
    assert messages_of(response) == [
        "Disabled 2 label mappings: rv-a → test-pool, rv-b → test-pool.",
        "1 label mapping already disabled, left as it was: rv-c → test-pool.",
    ]
    assert store.config_version() != before


def test_the_enable_action_enables_and_refuses_a_tie_with_its_reason(admin_client: Client) -> None:
    current = LabelMapping.objects.get(label="ubuntu-24.04-riscv")
    tie = LabelMappingFactory(label="ubuntu-24.04-riscv", pool="other", enabled=False)
    fine = LabelMappingFactory(label="rv-new", enabled=False)

    response = admin_client.post(
        MAPPINGS, {"action": "enable_mappings", "_selected_action": [tie.pk, fine.pk]}, follow=True
    )

    tie.refresh_from_db()
    fine.refresh_from_db()
    assert (tie.enabled, fine.enabled) == (False, True)
    assert messages_of(response) == [
        "Enabled 1 label mapping: rv-new → test-pool.",
        f"Not changed: ubuntu-24.04-riscv → other: Mapping #{current.pk} "
        "(ubuntu-24.04-riscv → scw-em-rv1) is enabled with the same label, scope and priority "
        "100: the two would tie. Give one of them another priority, or disable one.",
    ]


def test_the_enable_action_does_not_enable_two_mappings_that_tie_each_other(
    admin_client: Client,
) -> None:
    first = LabelMappingFactory(label="rv-twin", pool="one", enabled=False)
    second = LabelMappingFactory(label="RV-TWIN", pool="two", enabled=False)

    response = admin_client.post(
        MAPPINGS,
        {"action": "enable_mappings", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert LabelMapping.objects.filter(label__iexact="rv-twin", enabled=True).count() == 1
    assert messages_of(response)[0] == "Enabled 1 label mapping: rv-twin → one."
    assert "would tie" in messages_of(response)[1]


# Accounts


def test_the_account_list_and_forms_open(admin_client: Client) -> None:
    account = AccountFactory(login="riscv-org", max_workers=None, staging=True)
    LabelMappingFactory.create_batch(2, owner_id=account.github_id)

    listing = admin_client.get(ACCOUNTS)
    add = admin_client.get(reverse("admin:webhooks_account_add"))
    change = admin_client.get(reverse("admin:webhooks_account_change", args=[account.pk]))

    assert (listing.status_code, add.status_code, change.status_code) == (200, 200, 200)
    page = listing.content.decode()
    for column in (
        "Login",
        "GitHub id",
        "Type",
        "Staging",
        "Blocked",
        "Max workers",
        "Last change",
    ):
        assert f">{column}</a>" in page
    assert "unlimited" in page
    changelist = reverse("admin:webhooks_labelmapping_changelist")
    link = f"<a href='{changelist}?owner_id={account.github_id}'>2 mappings</a>"
    assert link in page
    assert link in change.content.decode()


def test_the_mapping_list_opens_filtered_by_owner_from_the_account_link(
    admin_client: Client,
) -> None:
    account = AccountFactory()
    LabelMappingFactory.create_batch(2, owner_id=account.github_id)

    response = admin_client.get(f"{MAPPINGS}?owner_id={account.github_id}")

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2


@pytest.mark.parametrize(
    "query, expected",
    [
        ("type__exact=User", {"a-user"}),
        ("staging__exact=1", {"a-staging-org"}),
        ("blocked__exact=1", {"a-blocked-org"}),
        ("q=blocked", {"a-blocked-org"}),
        ("q=9100000077", {"a-user"}),
    ],
)
def test_the_account_list_filters_and_searches(
    admin_client: Client, query: str, expected: set[str]
) -> None:
    AccountFactory(login="a-user", type="User", github_id=9100000077)
    AccountFactory(login="a-staging-org", staging=True)
    AccountFactory(login="a-blocked-org", blocked=True)

    response = admin_client.get(f"{ACCOUNTS}?{query}")

    assert {account.login for account in response.context["cl"].result_list} == expected


def test_an_account_saved_in_the_admin_is_stored_and_moves_the_config_version(
    admin_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:webhooks_account_add"),
            account_form(github_id=str(2**63 - 1), max_workers="4", blocked="on", note="abuse"),
        )

    assert response.status_code == 302
    account = Account.objects.get()
    assert (account.github_id, account.max_workers, account.blocked) == (2**63 - 1, 4, True)
    assert store.config_version() != before


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"github_id": "0"}, "Ensure this value is greater than or equal to 1."),
        (
            {"github_id": str(2**63)},
            "Ensure this value is less than or equal to 9223372036854775807.",
        ),
        ({"github_id": "riscv"}, "Enter a whole number."),
        ({"login": "riscv org"}, "riscv org is not a GitHub login"),
        ({"login": "-riscv"}, "-riscv is not a GitHub login"),
        (
            {"type": "Enterprise"},
            "Select a valid choice. Enterprise is not one of the available choices.",
        ),
        (
            {"max_workers": "0"},
            "At least 1 worker; leave it empty for no limit, or block the account.",
        ),
        (
            {"max_workers": "-2"},
            "At least 1 worker; leave it empty for no limit, or block the account.",
        ),
        ({"github_id": "9100000042"}, "Account with this GitHub id already exists."),
    ],
)
def test_each_account_validation_error_is_shown_on_the_form(
    admin_client: Client, fields: dict[str, str], message: str
) -> None:
    AccountFactory(github_id=9100000042)

    response = admin_client.post(reverse("admin:webhooks_account_add"), account_form(**fields))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Account.objects.count() == 1


@pytest.mark.parametrize(
    "action, field, start, message",
    [
        ("move_to_staging", "staging", False, "Moved to staging 2 accounts"),
        ("move_to_production", "staging", True, "Moved to production 2 accounts"),
        ("block_accounts", "blocked", False, "Blocked 2 accounts"),
        ("unblock_accounts", "blocked", True, "Unblocked 2 accounts"),
    ],
)
def test_each_account_action_changes_what_it_says(
    admin_client: Client,
    settings: Any,
    action: str,
    field: str,
    start: bool,
    message: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.STAGING_URL = "http://staging.invalid/"
    accounts = [
        AccountFactory(login="rv-a", **{field: start}),
        AccountFactory(login="rv-b", **{field: start}),
    ]
    already = AccountFactory(login="rv-c", **{field: not start})
    before = store.config_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            ACCOUNTS,
            {"action": action, "_selected_action": [a.pk for a in [*accounts, already]]},
            follow=True,
        )

    assert set(Account.objects.values_list(field, flat=True)) == {not start}
    said = messages_of(response)
    ids = [a.github_id for a in accounts]
    assert said[0] == f"{message}: rv-a ({ids[0]}), rv-b ({ids[1]})."
    assert said[1].startswith("1 account ") and said[1].endswith(f"rv-c ({already.github_id}).")
    assert len(said) == 2
    assert store.config_version() != before


def test_moving_an_account_to_staging_warns_when_this_deployment_cannot_forward(
    admin_client: Client, settings: Any
) -> None:
    settings.STAGING_URL = ""
    account = AccountFactory()

    response = admin_client.post(
        ACCOUNTS, {"action": "move_to_staging", "_selected_action": [account.pk]}, follow=True
    )

    assert messages_of(response)[-1] == (
        "The staging flag has no effect yet: STAGING_URL is not set here. "
        "These jobs are served here."
    )


def test_saving_a_staging_account_on_staging_warns_that_only_production_forwards(
    admin_client: Client, settings: Any
) -> None:
    settings.RUNNERHUB_ENV = "staging"

    response = admin_client.post(
        reverse("admin:webhooks_account_add"), account_form(staging="on"), follow=True
    )

    assert any(
        "this is the staging deployment; only production forwards" in message
        for message in messages_of(response)
    )


@pytest.mark.parametrize(
    "url, action, words",
    [
        (MAPPINGS, "enable_mappings", "Enable selected label mappings"),
        (MAPPINGS, "disable_mappings", "Disable selected label mappings"),
        (ACCOUNTS, "move_to_staging", "Move selected accounts to staging"),
        (ACCOUNTS, "move_to_production", "Move selected accounts to production"),
        (ACCOUNTS, "block_accounts", "Block selected accounts"),
        (ACCOUNTS, "unblock_accounts", "Unblock selected accounts"),
    ],
)
def test_each_action_is_offered_in_words_that_name_the_rows(
    admin_client: Client, url: str, action: str, words: str
) -> None:
    AccountFactory()  # the admin offers no actions on an empty list

    response = admin_client.get(url)

    assert response.status_code == 200
    assert f'<option value="{action}">{words}</option>' in response.content.decode()
