"""The Pod and Secret of one runner, and the templates maintainers extend them with.

A runner's pod carries its just-in-time config only through `env.valueFrom.secretKeyRef`, never
in its arguments or a literal value; the Secret is owned by the Pod, so Kubernetes deletes it
with the pod. Templates (per pool, per mapping) add to the pod (a sidecar, tolerations, volumes)
but cannot change what keeps a runner safe and single-use.
"""
import base64
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import yaml

# The cluster version whose JSON schema pods, templates and the deployment manifests are
# validated against (kubernetes-validate, strict: unknown fields are errors).
KUBERNETES_SCHEMA_VERSION = "1.37.0"

RUNNER_CONTAINER = "runner"
JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"
JIT_KEY = "jitconfig"
BOARD_SELECTOR = "riseproject.dev/board"
MANAGED_BY = {"app.kubernetes.io/managed-by": "runnerhub"}

# What a template may add to. Everything else in the pod is RunnerHub's: a template that set
# restartPolicy, the service account, host namespaces or the runner's image would break the
# one-job-per-runner contract or the isolation of the boards.
TEMPLATE_METADATA_KEYS = frozenset({"labels", "annotations"})
TEMPLATE_SPEC_KEYS = frozenset(
    {
        "affinity",
        "containers",
        "dnsConfig",
        "dnsPolicy",
        "hostAliases",
        "imagePullSecrets",
        "initContainers",
        "nodeSelector",
        "priorityClassName",
        "runtimeClassName",
        "securityContext",
        "terminationGracePeriodSeconds",
        "tolerations",
        "volumes",
    }
)
# Of the runner's own container, a template may add mounts and environment only.
TEMPLATE_RUNNER_KEYS = frozenset({"name", "env", "envFrom", "volumeMounts", "securityContext"})


class TemplateError(ValueError):
    """A pod template that cannot be applied; the message says why, for the admin form."""


@dataclass(frozen=True)
class RunnerSpec:
    """What the pod of one runner is made of."""

    name: str
    env: str
    entity_id: str
    pool: str
    image: str
    namespace: str
    active_deadline_seconds: int
    resources: Mapping[str, Mapping[str, str]]
    templates: tuple[Mapping[str, Any], ...] = ()


def labels_of(name: str, env: str, entity_id: str, pool: str) -> dict[str, str]:
    return {
        **MANAGED_BY,
        "runnerhub/env": env,
        "runnerhub/entity": entity_id,
        "runnerhub/pool": pool,
        "runnerhub/worker": name,
    }


def selector(env: str) -> str:
    """The label selector of every pod this deployment manages."""
    return f"app.kubernetes.io/managed-by=runnerhub,runnerhub/env={env}"


def pod_manifest(spec: RunnerSpec) -> dict[str, Any]:
    """The Pod of a runner, with its templates applied, as the Kubernetes API takes it."""
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": spec.image,
        "env": [
            {
                "name": JIT_ENV,
                "valueFrom": {"secretKeyRef": {"name": spec.name, "key": JIT_KEY}},
            }
        ],
    }
    if spec.resources:
        container["resources"] = {kind: dict(values) for kind, values in spec.resources.items()}
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels_of(spec.name, spec.env, spec.entity_id, spec.pool),
        },
        "spec": {
            "nodeSelector": {BOARD_SELECTOR: spec.pool},
            "restartPolicy": "Never",
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [container],
        },
    }
    for template in spec.templates:
        pod = apply_template(pod, template)
    return pod


def secret_manifest(spec: RunnerSpec, pod_uid: str, jit_config: str) -> dict[str, Any]:
    """The Secret holding a runner's JIT config, owned by its pod so it goes with it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels_of(spec.name, spec.env, spec.entity_id, spec.pool),
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": spec.name, "uid": pod_uid}
            ],
        },
        "data": {JIT_KEY: base64.b64encode(jit_config.encode()).decode()},
    }


def parse_template(text: str) -> dict[str, Any]:
    """A template as a maintainer wrote it (YAML or JSON: part of a Pod), checked against what
    a template may touch. Raises TemplateError naming the first problem."""
    try:
        template = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"not YAML: {exc}") from None
    if template is None:
        return {}
    if not isinstance(template, dict):
        raise TemplateError("a template is a mapping with metadata and spec")
    _only(template, {"metadata", "spec"}, "")
    metadata = _mapping(template.get("metadata", {}), "metadata")
    _only(metadata, TEMPLATE_METADATA_KEYS, "metadata.")
    for key in ("labels", "annotations"):
        for name in _mapping(metadata.get(key, {}), f"metadata.{key}"):
            if name.startswith("runnerhub/") or name in MANAGED_BY:
                raise TemplateError(f"metadata.{key}.{name} is RunnerHub's own")
    spec = _mapping(template.get("spec", {}), "spec")
    _only(spec, TEMPLATE_SPEC_KEYS, "spec.")
    if BOARD_SELECTOR in _mapping(spec.get("nodeSelector", {}), "spec.nodeSelector"):
        raise TemplateError(f"spec.nodeSelector.{BOARD_SELECTOR} is the mapping's pool")
    for field in ("containers", "initContainers"):
        for container in _sequence(spec.get(field, []), f"spec.{field}"):
            container = _mapping(container, f"spec.{field}[]")
            where = f"spec.{field}[{container.get('name', '')}]"
            if container.get("name") == RUNNER_CONTAINER:
                if field == "initContainers":
                    raise TemplateError(f"{where}: the name {RUNNER_CONTAINER} is the runner's")
                _only(container, TEMPLATE_RUNNER_KEYS, "spec.containers[runner].")
            for variable in _sequence(container.get("env", []), f"{where}.env"):
                if _mapping(variable, "env[]").get("name") == JIT_ENV:
                    raise TemplateError(f"{JIT_ENV} comes from the runner's Secret only")
            _unprivileged(_mapping(container.get("securityContext", {}), f"{where}.securityContext"), where)
    for volume in _sequence(spec.get("volumes", []), "spec.volumes"):
        volume = _mapping(volume, "spec.volumes[]")
        if "hostPath" in volume:
            raise TemplateError("spec.volumes: a hostPath volume would reach into the board")
        sources = _mapping(volume.get("projected", {}), "projected").get("sources", [])
        if any("serviceAccountToken" in _mapping(source, "sources[]") for source in sources):
            raise TemplateError("spec.volumes: runners get no service account token")
    return template


def _unprivileged(context: Mapping[str, Any], where: str) -> None:
    """Untrusted workflow code runs in these containers, on boards later jobs reuse."""
    if context.get("privileged") or context.get("allowPrivilegeEscalation"):
        raise TemplateError(f"{where}.securityContext: no privileged containers")
    if _mapping(context.get("capabilities", {}), "capabilities").get("add"):
        raise TemplateError(f"{where}.securityContext.capabilities.add: no added capabilities")


def check_template(template: Mapping[str, Any]) -> None:
    """Apply `template` to an example runner pod and validate the result against the
    Kubernetes schema. Raises TemplateError with the schema's words."""
    example = RunnerSpec(
        name="runnerhub-prod-example",
        env="prod",
        entity_id="1",
        pool="example-board",
        image="registry.example/runner:latest",
        namespace="runnerhub-runners",
        active_deadline_seconds=3600,
        resources={"requests": {"cpu": "1"}},
        templates=(template,),
    )
    validate(pod_manifest(example))


def validate(manifest: Mapping[str, Any]) -> None:
    """Raise TemplateError unless `manifest` is valid at KUBERNETES_SCHEMA_VERSION."""
    try:
        kubernetes_validate.validate(dict(manifest), KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        raise TemplateError(f"{where or 'pod'}: {exc.message}") from None


def apply_template(pod: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """`pod` with `template` merged in: mappings merge key by key, containers merge by name
    (a new name is a sidecar), and other lists are extended."""
    return _merge(copy.deepcopy(dict(pod)), template)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            base[key] = _merge(current, value)
        elif key in ("containers", "initContainers") and isinstance(current, list):
            base[key] = _merge_by_name(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            base[key] = current + copy.deepcopy(value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _merge_by_name(containers: list[Any], extra: Iterable[Any]) -> list[Any]:
    merged = list(containers)
    names = {container.get("name"): index for index, container in enumerate(merged)}
    for container in extra:
        index = names.get(container.get("name")) if isinstance(container, Mapping) else None
        if index is None:
            merged.append(copy.deepcopy(container))
        else:
            merged[index] = _merge(merged[index], container)
    return merged


def _only(mapping: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise TemplateError(
                f"{where}{key} cannot be set by a template (allowed: {', '.join(sorted(allowed))})"
            )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"{where} must be a mapping")
    return value


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(f"{where} must be a list")
    return value
