"""The admin's match preview: the webhook's answer, before any job is sent."""
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from harness.factories import AccountFactory, LabelMappingFactory, WorkflowJobPayloadFactory
from tests.matching_cases import CASES, OWNER, REPO, MatchCase
from webhooks import store
from webhooks.models import LabelMapping

pytestmark = pytest.mark.django_db

PREVIEW = reverse("admin:labelmapping_preview")


def ask(client: Client, labels: Any, owner_id: Any = OWNER, repository: str = REPO) -> Any:
    runs_on = labels if isinstance(labels, str) else ", ".join(labels)
    return client.get(PREVIEW, {"runs_on": runs_on, "owner_id": owner_id, "repository": repository})


def load(case: MatchCase) -> None:
    LabelMapping.objects.all().delete()
    for row in case.rows():
        LabelMappingFactory(**row)


def test_an_anonymous_user_is_sent_to_the_login_page(client: Client) -> None:
    response = client.get(PREVIEW)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={PREVIEW}"


def test_a_staff_user_without_permissions_cannot_see_the_preview(client: Client) -> None:
    client.force_login(User.objects.create_user("viewer", is_staff=True))

    response = client.get(PREVIEW)

    assert response.status_code == 403


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_viewing_label_mappings_alone_does_not_show_accounts_in_the_preview(
    client: Client,
) -> None:
    AccountFactory(github_id=OWNER, login="secret-org", staging=True)
    client.force_login(staff_with("view_labelmapping"))

    response = ask(client, ["ubuntu-24.04-riscv"])

    assert response.status_code == 403
    assert b"secret-org" not in response.content


def test_viewing_label_mappings_and_accounts_shows_the_preview(client: Client) -> None:
    AccountFactory(github_id=OWNER, login="secret-org", staging=True)
    client.force_login(staff_with("view_labelmapping", "view_account"))

    response = ask(client, ["ubuntu-24.04-riscv"])

    assert response.status_code == 200
    assert b"secret-org" in response.content


def test_the_mapping_list_links_to_the_preview(admin_client: Client) -> None:
    page = admin_client.get(reverse("admin:webhooks_labelmapping_changelist")).content.decode()

    assert f'<a href="{PREVIEW}" class="viewlink">Preview a match</a>' in page


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_preview_answers_as_the_webhook_does(
    case: MatchCase, admin_client: Client, deliver: Callable[..., Any], redis_client: redis.Redis
) -> None:
    load(case)

    response = ask(admin_client, case.labels, case.owner_id, case.repo_name)
    payload = WorkflowJobPayloadFactory(
        workflow_job__labels=list(case.labels),
        repository__name=case.repo_name,
        repository__owner__id=case.owner_id,
    )
    delivered = deliver(payload)

    assert response.status_code == 200
    shown = response.context["preview"].winner
    job = redis_client.hgetall(store.keys().job(payload["workflow_job"]["id"]))
    assert delivered.status_code == 200
    assert (shown.pool if shown else None) == case.expected_pool
    assert (job.get("k8s_pool"), job.get("k8s_image")) == (
        (shown.pool, shown.image) if shown else (None, None)
    )
    page = response.content.decode()
    if shown:
        assert f'<strong class="preview-pool">{shown.pool}</strong>' in page
        assert delivered.content.decode().endswith(f"in pool {shown.pool}")
    else:
        assert "<strong>Ignored:</strong> no enabled mapping accepts these labels" in page
        assert delivered.content.decode() == "ignored: no label mapping matches this job"


def test_the_preview_says_why_each_losing_mapping_lost(admin_client: Client) -> None:
    LabelMapping.objects.all().delete()
    winner = LabelMappingFactory(label="ubuntu-24.04-riscv", pool="exact-board", priority=50)
    glob = LabelMappingFactory(label="ubuntu-*", pool="glob-board", priority=1)
    other = LabelMappingFactory(label="ubuntu-26.04-riscv", pool="other-board")
    strict = LabelMappingFactory(label="ubuntu-24.04-riscv", pool="strict-board", priority=60)
    off = LabelMappingFactory(label="ubuntu-24.04-riscv", pool="off-board", enabled=False)

    response = ask(admin_client, "ubuntu-24.04-riscv")

    rows = {v.mapping_id: v.reason for v in response.context["preview"].mappings}
    assert rows == {
        winner.pk: "wins",
        glob.pk: f"mapping {winner.pk} has an exact label, which beats a glob",
        other.pk: "its label matches none of the job's labels",
        strict.pk: f"mapping {winner.pk} comes first (lower priority number, then label and id)",
        off.pk: "disabled",
    }
    page = response.content.decode()
    assert page.count('class="preview-winner"') == 1
    assert page.count('class="preview-loser"') == 4
    assert "mapping %d has an exact label, which beats a glob" % winner.pk in page


def test_the_preview_reads_runs_on_as_people_paste_it(admin_client: Client) -> None:
    LabelMappingFactory(
        label="ubuntu-24.04-riscv", pool="gpu-board", priority=10, extra_labels=["gpu"]
    )

    for runs_on in (
        "ubuntu-24.04-riscv, gpu",
        "[ubuntu-24.04-riscv, gpu]",
        '["ubuntu-24.04-riscv", "gpu"]',
        "- ubuntu-24.04-riscv\n- gpu",
    ):
        preview = ask(admin_client, runs_on).context["preview"]

        assert preview.labels == ("ubuntu-24.04-riscv", "gpu")
        assert preview.winner.pool == "gpu-board"


def test_the_preview_takes_a_full_repository_name(admin_client: Client) -> None:
    LabelMappingFactory(
        label="ubuntu-24.04-riscv", pool="linux", owner_id=OWNER, repo_glob="linux-*"
    )

    preview = ask(admin_client, "ubuntu-24.04-riscv", repository="riscv-org/linux-riscv").context[
        "preview"
    ]

    assert (preview.repo_name, preview.winner.pool) == ("linux-riscv", "linux")


def test_the_preview_of_a_blocked_account_says_it_is_ignored_as_the_webhook_does(
    admin_client: Client, deliver: Callable[..., Any], redis_client: redis.Redis
) -> None:
    AccountFactory(github_id=OWNER, login="riscv-org", blocked=True)

    response = ask(admin_client, "ubuntu-24.04-riscv")
    payload = WorkflowJobPayloadFactory(repository__owner__id=OWNER)
    delivered = deliver(payload)

    page = response.content.decode()
    assert response.context["preview"].decision == "blocked"
    assert "<strong>Ignored:</strong> the account is blocked." in page
    assert "riscv-org</a>\n        (Organization, blocked," in page
    assert delivered.content.decode() == "ignored: the account is blocked"
    assert not redis_client.exists(store.keys().job(payload["workflow_job"]["id"]))


def test_the_preview_of_a_staging_account_in_production_says_it_is_forwarded(
    admin_client: Client, settings: Any
) -> None:
    settings.STAGING_URL = "http://127.0.0.1:9/"
    AccountFactory(github_id=OWNER, staging=True, max_workers=3)

    response = ask(admin_client, "ubuntu-24.04-riscv")

    assert response.context["preview"].decision == "forwarded"
    page = response.content.decode()
    assert "<strong>Forwarded to staging:</strong>" in page
    assert "staging,\n        at most 3 workers" in page


def test_the_preview_of_a_staging_account_on_staging_matches_here(
    admin_client: Client, settings: Any
) -> None:
    settings.RUNNERHUB_ENV = "staging"
    settings.STAGING_URL = "http://127.0.0.1:9/"
    AccountFactory(github_id=OWNER, staging=True)

    preview = ask(admin_client, "ubuntu-24.04-riscv").context["preview"]

    assert (preview.decision, preview.winner.pool) == ("matched", "scw-em-rv1")


def test_the_preview_says_when_an_owner_has_no_account_row(admin_client: Client) -> None:
    page = ask(admin_client, "ubuntu-24.04-riscv").content.decode()

    assert f"No account row for owner id {OWNER}: the defaults apply" in page


def test_the_preview_reads_mappings_saved_after_this_process_cached_them(
    admin_client: Client, deliver: Callable[..., Any]
) -> None:
    deliver(WorkflowJobPayloadFactory())  # warms this process's cache
    LabelMapping.objects.filter(label="ubuntu-24.04-riscv").update(pool="moved-board")

    preview = ask(admin_client, "ubuntu-24.04-riscv").context["preview"]

    assert preview.winner.pool == "moved-board"


def test_an_empty_form_shows_no_result(admin_client: Client) -> None:
    response = admin_client.get(PREVIEW)

    assert response.status_code == 200
    assert response.context["preview"] is None
    assert "preview-outcome" not in response.content.decode()
    assert "Please correct the errors below." not in response.content.decode()


@pytest.mark.parametrize(
    "owner_id, repository, message",
    [
        ("", REPO, "This field is required."),
        ("0", REPO, "Ensure this value is greater than or equal to 1."),
        (str(2**63), REPO, "Ensure this value is less than or equal to 9223372036854775807."),
        ("riscv-org", REPO, "Enter a whole number."),
        (OWNER, "", "This field is required."),
        (OWNER, "linux riscv", "A repository name is letters, digits, . _ and -"),
    ],
)
def test_each_preview_form_error_is_shown(
    admin_client: Client, owner_id: Any, repository: str, message: str
) -> None:
    response = ask(admin_client, "ubuntu-24.04-riscv", owner_id, repository)

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["preview"] is None
    assert "Please correct the errors below." in page
    assert message in page


def test_the_preview_refuses_more_labels_than_a_job_could_carry(admin_client: Client) -> None:
    response = ask(admin_client, [f"label-{n}" for n in range(51)])

    assert "At most 50 labels." in response.content.decode()


def test_the_preview_escapes_what_it_echoes(admin_client: Client) -> None:
    page = ask(admin_client, "<script>alert(1)</script>").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_preview_writes_nothing(admin_client: Client, redis_client: redis.Redis) -> None:
    ask(admin_client, "ubuntu-24.04-riscv")

    assert redis_client.keys("*") == []
