"""The Kubernetes manifests in deploy/: valid for the cluster version RunnerHub targets, wired
to settings that exist and Secrets the README documents, hardened, and with a Role that grants
exactly what the scheduler does to the runner namespace, as measured by driving it."""
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import fake_kubernetes
from harness.fake_kubernetes import FakeKubernetes
from harness.runner_world import NAMESPACE, World
from runners import store
from runners.github import Target
from runners.pods import KUBERNETES_SCHEMA_VERSION, labels_of
from tests.scheduler_support import settle
from webhooks.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"
MANIFESTS = sorted(path for path in DEPLOY.glob("*.yaml") if path != KUSTOMIZATION)
README = (ROOT / "README.md").read_text()

# Settings whose values are secret: they come from a Secret, never a literal or the ConfigMap.
SECRET_SETTINGS = frozenset(
    {
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_APP_PRIVATE_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "REDIS_SENTINEL_PASSWORD",
    }
)


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in documents() if document["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    [document] = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return document


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template of the manifests, by the name of what owns it."""
    for _, document in documents():
        spec = document.get("spec") or {}
        if document["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield document["metadata"]["name"], spec["template"]["spec"]


def containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(owner, container, pod spec) for every container, init containers included."""
    for owner, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{owner}/{container['name']}", container, spec


# --- schema and kustomization -----------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_is_valid_for_the_targeted_cluster(path: Path) -> None:
    loaded = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]

    assert loaded, f"{path.name} holds no resource"
    for document in loaded:
        kubernetes_validate.validate(document, KUBERNETES_SCHEMA_VERSION, strict=True)


def test_the_manifests_and_the_fake_api_target_the_same_cluster_version() -> None:
    assert KUBERNETES_SCHEMA_VERSION == fake_kubernetes.KUBERNETES_SCHEMA_VERSION


def test_the_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())

    assert sorted(kustomization["resources"]) == [path.name for path in MANIFESTS]
    # A `namespace:` would move the runner namespace's Role and NetworkPolicy into runnerhub.
    assert "namespace" not in kustomization
    [image] = kustomization["images"]
    images = {container["image"].rsplit(":", 1)[0] for _, container, _ in containers()}
    assert images == {image["name"]}


def test_every_namespaced_resource_names_one_of_the_two_namespaces() -> None:
    namespaces = {document["metadata"]["name"] for document in of_kind("Namespace")}
    assert namespaces == {"runnerhub", "runnerhub-runners"}
    for path, document in documents():
        if document["kind"] != "Namespace":
            where = (path.name, document["kind"])
            assert document["metadata"].get("namespace") in namespaces, where
    runner_side = {
        (d["kind"], d["metadata"]["name"])
        for _, d in documents()
        if d["metadata"].get("namespace") == "runnerhub-runners"
    }
    assert runner_side == {
        ("Role", "runnerhub-scheduler"),
        ("RoleBinding", "runnerhub-scheduler"),
        ("NetworkPolicy", "runners"),
    }


# --- settings and secrets -----------------------------------------------------------------------


def settings_read() -> set[str]:
    """Every environment variable RunnerHub reads: the env_* names of the settings and of
    gunicorn.conf.py, each with its _FILE variant (runnerhub/env.py reads one for every kind)."""
    names = set()
    for path in (ROOT / "runnerhub" / "settings.py", ROOT / "gunicorn.conf.py"):
        source = path.read_text()
        for name in re.findall(r"""env_(?:str|int|bool|list|float)\(\s*['"]([A-Z0-9_]+)['"]""", source):
            names |= {name, f"{name}_FILE"}
    return names


def environment(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's variables by name: its `env` entries and its ConfigMaps' keys."""
    variables = {variable["name"]: variable for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "secrets come as files, not envFrom"
        config_map = named("ConfigMap", source["configMapRef"]["name"])
        for name, value in config_map["data"].items():
            variables.setdefault(name, {"name": name, "value": value})
    return variables


def test_the_settings_parser_finds_the_settings() -> None:
    names = settings_read()
    assert {"SECRET_KEY", "SECRET_KEY_FILE", "REDIS_URL_FILE", "RUNNER_NAMESPACE", "PORT"} <= names
    assert {"RUNNER_START_TIMEOUT_FILE", "WEB_CONCURRENCY_FILE"} <= names  # every kind has one


def test_every_variable_the_manifests_set_is_one_runnerhub_reads() -> None:
    known = settings_read()
    for owner, container, _ in containers():
        unknown = set(environment(container)) - known
        assert not unknown, f"{owner} sets {sorted(unknown)}, which no setting reads"


def test_no_container_is_pointed_at_a_kubeconfig() -> None:
    # In the cluster the scheduler uses its service account; a KUBECONFIG would take precedence.
    for owner, container, _ in containers():
        assert "KUBECONFIG" not in environment(container), owner


def documented_secrets() -> dict[str, set[str]]:
    """The Secrets the README tells to create, with their keys."""
    secrets: dict[str, set[str]] = {}
    commands = re.findall(r"kubectl .*?create secret generic (\S+)((?:[^\n]*\\\n)*[^\n]*)", README)
    for name, arguments in commands:
        secrets[name] = set(re.findall(r"--from-(?:literal|file)=([\w.-]+)=", arguments))
    return secrets


def secret_mounts(container: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
    """The directories a container has Secrets mounted at, to the Secret's name."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    mounts = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            assert "items" not in volume["secret"], "every key of the Secret is a file of its name"
            mounts[mount["mountPath"].rstrip("/")] = volume["secret"]["secretName"]
    return mounts


def test_the_readme_documents_the_secrets_with_their_keys() -> None:
    assert documented_secrets() == {
        "runnerhub": {"secret-key", "github-webhook-secret", "database-url", "redis-url"},
        "runnerhub-github-app": {"private-key"},
    }


def test_every_secret_referenced_is_one_the_readme_documents() -> None:
    documented = documented_secrets()
    referenced = set()
    for owner, container, spec in containers():
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                referenced.add(volume["secret"]["secretName"])
            for source in (volume.get("projected") or {}).get("sources", []):
                if "secret" in source:
                    referenced.add(source["secret"]["name"])
        for variable in container.get("env", []):
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference:
                assert reference["key"] in documented.get(reference["name"], ()), (owner, reference)
                referenced.add(reference["name"])
    assert referenced and referenced <= set(documented)


def test_every_file_variable_names_a_documented_key_of_a_mounted_secret() -> None:
    documented = documented_secrets()
    for owner, container, spec in containers():
        mounts = secret_mounts(container, spec)
        for name, variable in environment(container).items():
            if not name.endswith("_FILE"):
                continue
            directory, _, key = variable["value"].rpartition("/")
            assert directory in mounts, f"{owner}: {name} is not in a mounted Secret"
            assert key in documented[mounts[directory]], f"{owner}: {name} names no documented key"


def test_secret_settings_come_from_secrets_only() -> None:
    for owner, container, _ in containers():
        variables = environment(container)
        literal = SECRET_SETTINGS & set(variables)
        assert not literal, f"{owner} sets {sorted(literal)} as a plain value"
    for _, document in documents():
        assert document["kind"] != "Secret", "no secret value is shipped; the README creates them"


def test_each_container_gets_exactly_the_secrets_its_process_needs() -> None:
    # Every process loads the settings and runs the system checks; only the scheduler talks
    # to GitHub.
    common = {"SECRET_KEY", "GITHUB_WEBHOOK_SECRET", "DATABASE_URL", "REDIS_URL"}
    needs = {
        "runnerhub-web/web": common,
        "runnerhub-scheduler/scheduler": common | {"GITHUB_APP_PRIVATE_KEY"},
        "prune-demand/prune-demand": common,
        "migrate/migrate": common,
    }
    found = {}
    for owner, container, _ in containers():
        files = [name for name in environment(container) if name.endswith("_FILE")]
        found[owner] = {name.removesuffix("_FILE") for name in files}
    assert found == needs


def test_the_scheduler_runs_in_the_namespace_the_role_is_in() -> None:
    config = named("ConfigMap", "runnerhub-config")["data"]
    role = named("Role", "runnerhub-scheduler")
    assert config["RUNNER_NAMESPACE"] == NAMESPACE == role["metadata"]["namespace"]
    assert named("NetworkPolicy", "runners")["metadata"]["namespace"] == NAMESPACE


def as_the_kubelet_runs(owner: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a container as the manifests give it, with its Secrets (made up
    here, as the README creates them) written under `tmp_path` instead of /run/secrets.
    Nothing else: no PATH, no DJANGO_SETTINGS_MODULE; KUBERNETES_SERVICE_HOST as in any pod."""
    [(_, container, spec)] = [entry for entry in containers() if entry[0] == owner]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    values = {
        "runnerhub": {
            "secret-key": secrets.token_urlsafe(50),
            "github-webhook-secret": secrets.token_hex(32),
            "database-url": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "redis-url": "redis://:a-redis-password@redis.example.org:6379/0",
        },
        "runnerhub-github-app": {
            "private-key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode()
        },
    }
    assert {name: set(keys) for name, keys in values.items()} == documented_secrets()
    moved = {}
    for directory, secret in secret_mounts(container, spec).items():
        (tmp_path / secret).mkdir()
        for name, value in values[secret].items():
            (tmp_path / secret / name).write_text(value)
        moved[directory + "/"] = f"{tmp_path / secret}/"
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    for name, variable in environment(container).items():
        value = variable["value"]
        for directory, there in moved.items():
            value = value.replace(directory, there, 1) if value.startswith(directory) else value
        env[name] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_web_tiers_configuration_passes_the_production_checks(tmp_path: Path) -> None:
    env = as_the_kubelet_runs("runnerhub-web/web", tmp_path)

    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_schedulers_configuration_is_complete(tmp_path: Path) -> None:
    env = as_the_kubelet_runs("runnerhub-scheduler/scheduler", tmp_path)
    ready = "from runners import config; print(repr(config.missing_settings()))"

    check = manage(env, "check", "--fail-level", "WARNING")
    missing = manage(env, "shell", "-v", "0", "-c", ready)

    assert check.returncode == 0, check.stderr
    assert missing.stdout.strip() == "''", missing.stderr


# --- workloads ------------------------------------------------------------------------------------


def test_every_container_is_hardened_and_sized() -> None:
    for owner, container, spec in containers():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, owner
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False, owner
        assert own["readOnlyRootFilesystem"] is True, owner
        assert own["capabilities"] == {"drop": ["ALL"]}, owner
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, owner
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{owner}: a read-only root needs a writable /tmp"
        nodes = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert nodes["nodeSelectorTerms"] == [
            {"matchExpressions": [{"key": "riseproject.dev/board", "operator": "DoesNotExist"}]}
        ], f"{owner} could take a runner board"


def test_only_the_scheduler_gets_a_service_account_token() -> None:
    tokens = {owner: spec["automountServiceAccountToken"] for owner, spec in pod_specs()}
    assert tokens == {
        "runnerhub-web": False,
        "runnerhub-scheduler": True,
        "prune-demand": False,
        "migrate": False,
    }
    scheduler = named("Deployment", "runnerhub-scheduler")["spec"]["template"]["spec"]
    assert scheduler["serviceAccountName"] == "runnerhub-scheduler"


def test_the_web_tier_is_ready_on_health_and_alive_while_redis_is_down() -> None:
    deployment = named("Deployment", "runnerhub-web")
    [web] = deployment["spec"]["template"]["spec"]["containers"]

    assert web["command"] == ["gunicorn", "runnerhub.wsgi"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/health"
    [host] = web["readinessProbe"]["httpGet"]["httpHeaders"]
    assert host["name"] == "Host"
    allowed = named("ConfigMap", "runnerhub-config")["data"]["ALLOWED_HOSTS"].split(",")
    assert host["value"] in allowed  # else Django answers the probe 400
    # /health is 503 during a Redis outage: that must not restart the pods.
    assert "httpGet" not in web["livenessProbe"]
    service = named("Service", "runnerhub-web")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_scheduler_has_two_replicas_and_no_http_probes() -> None:
    deployment = named("Deployment", "runnerhub-scheduler")
    [scheduler] = deployment["spec"]["template"]["spec"]["containers"]

    assert deployment["spec"]["replicas"] == 2
    assert scheduler["command"] == ["python", "manage.py", "run_scheduler"]
    assert not {"ports", "readinessProbe", "livenessProbe", "startupProbe"} & set(scheduler)


def test_the_jobs_run_their_commands() -> None:
    cron = named("CronJob", "prune-demand")["spec"]
    [prune] = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    [migrate] = named("Job", "migrate")["spec"]["template"]["spec"]["containers"]

    assert prune["command"] == ["python", "manage.py", "prune_demand"]
    assert cron["schedule"] == "*/15 * * * *" and cron["concurrencyPolicy"] == "Forbid"
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_the_network_policy_shuts_the_runner_pods_off_from_connections() -> None:
    policy = named("NetworkPolicy", "runners")["spec"]
    runner_labels = labels_of("runnerhub-prod-0123456789", "prod", "1", "board")

    selector = policy["podSelector"]["matchLabels"]
    assert selector.items() <= runner_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"] and policy["ingress"] == []
    peers = [peer for rule in policy["egress"] for peer in rule["to"]]
    blocks = [peer["ipBlock"] for peer in peers if "ipBlock" in peer]
    assert {block["cidr"] for block in blocks} == {"0.0.0.0/0", "::/0"}
    excepted = {cidr for block in blocks for cidr in block["except"]}
    assert {"10.0.0.0/8", "169.254.0.0/16"} <= excepted  # the cluster, the metadata service


# --- the scheduler's Role -------------------------------------------------------------------------


def test_nothing_is_granted_cluster_wide() -> None:
    kinds = {document["kind"] for _, document in documents()}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    [binding] = of_kind("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "runnerhub-scheduler",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runnerhub-scheduler", "namespace": "runnerhub"}
    ]


def granted() -> set[tuple[str, str]]:
    """The Role's rules as (verb, resource) pairs, the way `FakeKubernetes.used` records them."""
    pairs = set()
    for rule in named("Role", "runnerhub-scheduler")["rules"]:
        assert rule["apiGroups"] == [""], "the scheduler uses the core API only"
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for resource in rule["resources"]:
            for verb in rule["verbs"]:
                assert "*" not in (verb, resource), "no wildcards"
                pairs.add((verb, resource))
    return pairs


class Calls:
    """What the scheduler asked of Kubernetes, without the test's own requests to the fake."""

    def __init__(self, kube: FakeKubernetes) -> None:
        self.kube = kube
        self.seen: set[tuple[str, str]] = set()

    def scheduler_did(self) -> None:
        self.seen |= self.kube.used
        self.kube.used.clear()

    def test_did(self) -> None:
        self.kube.used.clear()


def age(name: str) -> None:
    """Make a worker look older than every timeout: the scheduler's clock is the wall clock."""
    store.client().hset(Keys("prod").worker(name), "updated_at", "1")


def provision_and_finish(scheduler, world: World, calls: Calls) -> None:
    org = world.account("role-finish", 9101)
    jobs = [world.queue(org) for _ in range(2)]
    settle(scheduler, world)
    assert all(job.status == "in_progress" for job in jobs)
    world.kube.set_log(NAMESPACE, jobs[0].runner, "job done\n")
    world.complete()
    settle(scheduler, world)
    assert world.leftovers() == {"pods": [], "secrets": [], "runners": []}
    assert store.worker_field(jobs[0].runner, "log_tail") == "job done\n"
    calls.scheduler_did()


def replace_a_pod_stuck_pending(scheduler, world: World, calls: Calls) -> None:
    org = world.account("role-stuck", 9102)
    world.queue(org)
    [stuck] = scheduler.run_pass().started
    world.kube.set_waiting(NAMESPACE, stuck, "ImagePullBackOff", "pull access denied")
    age(stuck)
    report = scheduler.run_pass()
    assert report.failed == [stuck] and len(report.started) == 1
    calls.scheduler_did()


def reap_an_idle_runner(scheduler, world: World, calls: Calls) -> None:
    org = world.account("role-idle", 9103)
    job = world.queue(org)
    [name] = scheduler.run_pass().started
    world.boot()
    scheduler.run_pass()
    job.status, job.runner = "in_progress", ""  # cancelled on GitHub before it started
    world.complete([job])
    age(name)
    assert scheduler.run_pass().stopped == [name]
    calls.scheduler_did()


def roll_back_a_failed_secret(scheduler, world: World, calls: Calls) -> None:
    org = world.account("role-rollback", 9104)
    world.queue(org)
    world.kube.fail("POST", r"/secrets$", 500)
    report = scheduler.run_pass()
    assert len(report.rolled_back) == 1 and world.kube.pod(NAMESPACE, report.rolled_back[0]) is None
    settle(scheduler, world)  # its job gets another runner
    calls.scheduler_did()


def read_back_a_pod_whose_create_reply_was_lost(scheduler, world: World, calls: Calls) -> None:
    org = world.account("role-lost-reply", 9105)
    world.queue(org)
    world.kube.fail("POST", r"/pods$", 409, after=True)  # made, but answered AlreadyExists
    report = scheduler.run_pass()
    [started] = report.started
    assert not report.rolled_back and world.kube.secret(NAMESPACE, started) is not None
    calls.scheduler_did()


def sweep_orphans(scheduler, world: World, calls: Calls, settings) -> None:
    live = {worker.name for worker in store.read_workers()}
    target = Target.loads(store.worker_field(sorted(live)[0], "target"))
    stray = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "runnerhub-prod-0000000000", "labels": {
            "app.kubernetes.io/managed-by": "runnerhub", "runnerhub/env": "prod"}},
        "spec": {"containers": [{"name": "runner", "image": "registry.example/runner:1"}]},
    }  # fmt: skip
    scheduler.cluster.core.create_namespaced_pod(NAMESPACE, stray)
    scheduler.github.register(target, "runnerhub-prod-1111111111", ["ubuntu-24.04-riscv"])
    calls.test_did()
    settings.ORPHAN_SWEEP_SECONDS = 10
    scheduler.last_sweep = 0
    report = scheduler.run_pass()
    assert "runnerhub-prod-0000000000" in report.orphans
    assert world.kube.pod(NAMESPACE, "runnerhub-prod-0000000000") is None
    calls.scheduler_did()


@pytest.mark.django_db
def test_the_role_grants_exactly_what_the_scheduler_uses(scheduler, world: World, settings) -> None:
    """Every path of the scheduler that calls Kubernetes, then the Role against what it used:
    a new call (a patch, a watch, events) fails this until the Role grants it, and a grant the
    scheduler no longer needs fails it until it is taken away."""
    settings.RUNNER_START_TIMEOUT = 10
    settings.RUNNER_IDLE_TIMEOUT = 10
    calls = Calls(world.kube)

    provision_and_finish(scheduler, world, calls)
    replace_a_pod_stuck_pending(scheduler, world, calls)
    reap_an_idle_runner(scheduler, world, calls)
    roll_back_a_failed_secret(scheduler, world, calls)
    read_back_a_pod_whose_create_reply_was_lost(scheduler, world, calls)
    sweep_orphans(scheduler, world, calls, settings)

    ungranted, unused = calls.seen - granted(), granted() - calls.seen
    assert not ungranted, f"the scheduler used {sorted(ungranted)}: grant it in scheduler-rbac.yaml"
    assert not unused, f"the Role grants {sorted(unused)}, which the scheduler never used"
    assert world.kube.namespaces == {NAMESPACE}
    assert ("list", "events") not in calls.seen  # the scheduler reads no events
