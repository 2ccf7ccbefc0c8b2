"""What maintainers set for the runner pods in the admin: each node pool's resources and the
templates that extend a pool's or a mapping's pods. The runners themselves live in Redis."""
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from runners import pods
from webhooks.models import LabelMapping, validate_pool

log = logging.getLogger(__name__)

# A Kubernetes quantity: 500m, 2, 1.5, 4Gi, 512M ...
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# GitHub stops a self-hosted job after 5 days; a pod outliving that has nothing left to do.
DEFAULT_DEADLINE_SECONDS = 5 * 86400 + 3600


TEMPLATE_HELP = (
    "YAML added to every runner pod: metadata labels and annotations, and spec fields such as "
    "tolerations, volumes and sidecar containers (a container named runner adds mounts or "
    "environment to the runner itself)."
)


def validate_quantity(value: str) -> None:
    if value and not QUANTITY_RE.match(value):
        raise ValidationError(
            "%(value)s is not a Kubernetes quantity (for example 500m, 2, 4Gi).",
            params={"value": value},
        )


def validate_template(value: str) -> None:
    try:
        pods.check_template(pods.parse_template(value))
    except pods.TemplateError as exc:
        raise ValidationError("Pod template: %(why)s", params={"why": str(exc)}) from None


class RunnerPool(models.Model):
    """A node pool's runner settings. A pool with no row gets no requests or limits, the
    default deadline and no template."""

    pool = models.CharField(
        max_length=63,
        unique=True,
        validators=[validate_pool],
        help_text="The node pool: the value of the riseproject.dev/board node selector.",
    )
    cpu_request = models.CharField(max_length=20, blank=True, validators=[validate_quantity])
    cpu_limit = models.CharField(max_length=20, blank=True, validators=[validate_quantity])
    memory_request = models.CharField(max_length=20, blank=True, validators=[validate_quantity])
    memory_limit = models.CharField(max_length=20, blank=True, validators=[validate_quantity])
    active_deadline_seconds = models.PositiveIntegerField(
        default=DEFAULT_DEADLINE_SECONDS,
        validators=[MinValueValidator(60)],
        help_text="The pod is stopped after this long, whatever it is doing.",
    )
    pod_template = models.TextField(blank=True, validators=[validate_template], help_text=TEMPLATE_HELP)
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pool"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(active_deadline_seconds__gte=60),
                name="runnerpool_deadline_at_least_a_minute",
            ),
        ]

    def __str__(self) -> str:
        return self.pool

    def clean(self) -> None:
        super().clean()
        # The resources as Kubernetes would take them, with the template (checked on its own
        # by its validator) left out so that each field's error stays beside that field.
        try:
            pods.validate(pods.pod_manifest(self._example()))
        except pods.TemplateError as exc:
            raise ValidationError(f"These resources would not make a valid pod: {exc}") from None

    def resources(self) -> dict[str, dict[str, str]]:
        resources: dict[str, dict[str, str]] = {}
        for kind, cpu, memory in (
            ("requests", self.cpu_request, self.memory_request),
            ("limits", self.cpu_limit, self.memory_limit),
        ):
            values = {name: value for name, value in (("cpu", cpu), ("memory", memory)) if value}
            if values:
                resources[kind] = values
        return resources

    def _example(self) -> pods.RunnerSpec:
        return pods.RunnerSpec(
            name="runnerhub-prod-example",
            env="prod",
            entity_id="1",
            pool=self.pool or "example",
            image="registry.example/runner:latest",
            namespace="runnerhub-runners",
            active_deadline_seconds=self.active_deadline_seconds,
            resources=self.resources(),
        )


class MappingPodTemplate(models.Model):
    """A template for the pods of one label mapping's jobs, applied after its pool's."""

    mapping = models.OneToOneField(
        LabelMapping, on_delete=models.CASCADE, related_name="pod_template"
    )
    pod_template = models.TextField(validators=[validate_template], help_text=TEMPLATE_HELP)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mapping"]

    def __str__(self) -> str:
        return f"pod template of {self.mapping}"


@dataclass(frozen=True)
class PodSettings:
    """The pools' settings and the parsed templates, as one pass reads them."""

    pools: dict[str, RunnerPool]
    pool_templates: dict[str, dict[str, Any]]
    mapping_templates: dict[int, dict[str, Any]]
    # Pools and mappings whose template no longer parses (saved under older rules): their jobs
    # get no runner until it is mended, and the others are not held up by them.
    broken_pools: frozenset[str] = frozenset()
    broken_mappings: frozenset[int] = frozenset()


def pod_settings() -> PodSettings:
    """Every pool's settings and every template, parsed once."""
    pools = {pool.pool: pool for pool in RunnerPool.objects.all()}
    pool_templates, broken_pools = _parsed(
        (name, pool.pod_template) for name, pool in pools.items() if pool.pod_template
    )
    mapping_templates, broken_mappings = _parsed(
        (row.mapping_id, row.pod_template) for row in MappingPodTemplate.objects.all()
    )
    return PodSettings(pools, pool_templates, mapping_templates, broken_pools, broken_mappings)


def _parsed(rows: Iterable[tuple[Any, str]]) -> tuple[dict[Any, dict[str, Any]], frozenset[Any]]:
    parsed, broken = {}, set()
    for key, text in rows:
        try:
            parsed[key] = pods.parse_template(text)
        except pods.TemplateError as exc:
            log.error("pod_template.broken for=%s error=%s", key, exc)
            broken.add(key)
    return parsed, frozenset(broken)
