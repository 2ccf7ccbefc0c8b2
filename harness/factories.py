"""Test data: label mappings, accounts, and workflow_job payloads shaped like GitHub's."""
import factory
from factory.django import DjangoModelFactory

from webhooks.models import Account, LabelMapping

DEFAULT_LABEL = "ubuntu-24.04-riscv"


class LabelMappingFactory(DjangoModelFactory):
    class Meta:
        model = LabelMapping

    label = factory.Sequence(lambda n: f"test-riscv-{n}")
    pool = "test-pool"
    image = "rg.fr-par.scw.cloud/riseproject/riscv-runner:test"
    extra_labels = factory.LazyFunction(list)
    owner_id = None
    repo_glob = ""
    priority = 100
    enabled = True


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    github_id = factory.Sequence(lambda n: 9_000_000 + n)
    login = factory.Sequence(lambda n: f"riscv-org-{n}")
    type = "Organization"
    staging = False
    blocked = False
    max_workers = None


class OwnerFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: 9_000_000 + n)
    login = factory.Sequence(lambda n: f"riscv-org-{n}")
    type = "Organization"
    site_admin = False


class RepositoryFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: 500_000_000 + n)
    name = factory.Sequence(lambda n: f"project-{n}")
    owner = factory.SubFactory(OwnerFactory)
    full_name = factory.LazyAttribute(lambda repo: f"{repo.owner['login']}/{repo.name}")
    private = False
    html_url = factory.LazyAttribute(lambda repo: f"https://github.com/{repo.full_name}")


class WorkflowJobFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: 30_000_000_000 + n)  # past 2**32, as today's job ids are
    run_id = factory.Sequence(lambda n: 12_000_000_000 + n)
    run_attempt = 1
    name = "build (riscv64)"
    workflow_name = "CI"
    head_branch = "main"
    status = "queued"
    conclusion = None
    labels = factory.LazyFunction(lambda: [DEFAULT_LABEL])
    runner_id = None
    runner_name = None
    html_url = factory.LazyAttribute(lambda job: f"https://github.com/o/r/actions/runs/1/job/{job.id}")
    steps = factory.LazyFunction(list)


class InstallationFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: 40_000_000 + n)
    node_id = "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="


class WorkflowJobPayloadFactory(factory.DictFactory):
    """A `workflow_job` delivery: `WorkflowJobPayloadFactory(action="completed",
    workflow_job__id=..., repository__owner__type="User")`."""

    action = "queued"
    workflow_job = factory.SubFactory(WorkflowJobFactory)
    repository = factory.SubFactory(RepositoryFactory)
    sender = factory.LazyAttribute(lambda payload: {"login": payload.repository["owner"]["login"]})
    installation = factory.SubFactory(InstallationFactory)


def same_job(payload: dict, action: str, **job: object) -> dict:
    """Another delivery for the job of `payload`: same ids and labels, a new action."""
    status = {"queued": "queued", "in_progress": "in_progress", "completed": "completed"}
    return {
        **payload,
        "action": action,
        "workflow_job": {**payload["workflow_job"], "status": status.get(action, action), **job},
    }
