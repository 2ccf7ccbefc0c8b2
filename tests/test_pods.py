"""Runner pods and the templates that extend them: what a template may add, what it may not,
and that every pod is valid for the pinned Kubernetes schema."""
import pytest
from django.core.exceptions import ValidationError

from harness.factories import LabelMappingFactory
from harness.runner_world import NAMESPACE
from runners import pods
from runners.models import MappingPodTemplate, RunnerPool

SPEC = pods.RunnerSpec(
    name="runnerhub-prod-0123456789", env="prod", entity_id="42", pool="scw-em-rv1",
    image="rg.fr-par.scw.cloud/riseproject/riscv-runner:ubuntu-24.04-latest",
    namespace=NAMESPACE, active_deadline_seconds=3600,
    resources={"requests": {"cpu": "2", "memory": "4Gi"}},
)  # fmt: skip
TEMPLATE = """
metadata:
  annotations: {team: riscv}
spec:
  tolerations:
  - {key: riseproject.dev/board, operator: Exists, effect: NoSchedule}
  volumes:
  - {name: cache, emptyDir: {}}
  containers:
  - name: runner
    volumeMounts: [{name: cache, mountPath: /cache}]
  - name: dind-free-helper
    image: registry.example/helper:1
"""


def test_a_template_adds_to_the_pod_and_the_runner_keeps_what_makes_it_single_use():
    template = pods.parse_template(TEMPLATE)
    pod = pods.pod_manifest(pods.RunnerSpec(**{**SPEC.__dict__, "templates": (template,)}))

    pods.validate(pod)
    spec = pod["spec"]
    assert spec["tolerations"][0]["key"] == "riseproject.dev/board"
    runner, helper = spec["containers"]
    assert runner["name"] == "runner" and runner["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert runner["env"][0]["valueFrom"]["secretKeyRef"] == {"name": SPEC.name, "key": "jitconfig"}
    assert helper["name"] == "dind-free-helper"
    assert (spec["restartPolicy"], spec["automountServiceAccountToken"]) == ("Never", False)
    assert spec["nodeSelector"] == {"riseproject.dev/board": "scw-em-rv1"}
    assert pod["metadata"]["annotations"] == {"team": "riscv"}


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("spec: {restartPolicy: Always}", "restartPolicy cannot be set"),
        ("spec: {serviceAccountName: admin}", "serviceAccountName cannot be set"),
        ("spec: {hostNetwork: true}", "hostNetwork cannot be set"),
        ("spec: {nodeSelector: {riseproject.dev/board: other}}", "is the mapping's pool"),
        ("metadata: {labels: {runnerhub/env: staging}}", "RunnerHub's own"),
        ("spec: {containers: [{name: runner, image: evil/runner:1}]}", "image cannot be set"),
        ("spec: {containers: [{name: runner, env: [{name: ACTIONS_RUNNER_INPUT_JITCONFIG, value: x}]}]}",
         "Secret only"),
        ("spec: {containers: [{name: runner, securityContext: {privileged: true}}]}", "privileged"),
        ("spec: {containers: [{name: side, image: a/b:1, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]}",
         "capabilities"),
        ("spec: {initContainers: [{name: runner, image: a/b:1}]}", "is the runner's"),
        ("spec: {volumes: [{name: root, hostPath: {path: /}}]}", "hostPath"),
        ("spec: {volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: t}}]}}]}",
         "service account token"),
        ("- a list", "a mapping"),
        ("spec: [", "not YAML"),
    ],
)  # fmt: skip
def test_a_template_cannot_touch_what_keeps_runners_single_use_and_isolated(template, why):
    with pytest.raises(pods.TemplateError, match=why):
        pods.parse_template(template)


def test_a_template_the_schema_refuses_is_refused_with_the_schemas_words():
    template = pods.parse_template("spec: {tolerations: [{key: a, operator: Sometimes, bogus: 1}]}")
    with pytest.raises(pods.TemplateError, match="bogus"):
        pods.check_template(template)


@pytest.mark.django_db
def test_a_pool_and_a_mapping_template_are_validated_when_saved():
    pool = RunnerPool(pool="scw-em-rv1", cpu_request="2", memory_limit="8Gi", pod_template=TEMPLATE)
    pool.full_clean()
    pool.save()
    assert pool.resources() == {"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}}

    bad = RunnerPool(pool="cloudv10x-rvv", cpu_request="two", pod_template="spec: {hostPID: true}")
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert set(error.value.message_dict) == {"cpu_request", "pod_template"}

    mapping = MappingPodTemplate(mapping=LabelMappingFactory(), pod_template="spec: {hostIPC: true}")
    with pytest.raises(ValidationError, match="hostIPC cannot be set"):
        mapping.full_clean()


@pytest.mark.django_db
def test_the_admin_saves_a_pool_and_shows_a_template_error_beside_its_field(admin_client):
    response = admin_client.post(
        "/admin/runners/runnerpool/add/",
        {"pool": "scw-em-rv1", "active_deadline_seconds": 3600, "pod_template": "spec: {hostPID: true}"},
    )
    assert response.status_code == 200
    assert "hostPID cannot be set by a template" in response.content.decode()
    assert not RunnerPool.objects.exists()

    response = admin_client.post(
        "/admin/runners/runnerpool/add/",
        {"pool": "scw-em-rv1", "active_deadline_seconds": 3600, "pod_template": TEMPLATE},
    )
    assert response.status_code == 302
    assert RunnerPool.objects.get().pod_template == TEMPLATE.strip()  # the form strips it
