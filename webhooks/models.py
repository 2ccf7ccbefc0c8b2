"""Label mappings: which runner label means which RISC-V pool and runner image."""
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

# A Kubernetes label value: at most 63 characters, alphanumeric at both ends, `-_.` inside.
POOL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# A GitHub runner label (with `*`, `?` and `[...]` globs allowed in a mapping).
LABEL_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]:/-]{1,100}$")
# `registry/path[:tag][@sha256:digest]`, the registry part being a host name with an optional port.
IMAGE_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@sha256:(?P<digest>[a-f0-9]{64}))?$"
)


def is_glob(label: str) -> bool:
    return any(char in label for char in "*?[")


def validate_label(value: str) -> None:
    if not LABEL_RE.match(value):
        raise ValidationError(
            "%(value)s is not a runner label: use letters, digits and . _ - : / "
            "(with * ? [ ] as globs), at most 100 characters.",
            params={"value": value},
        )


def validate_pool(value: str) -> None:
    if not POOL_RE.match(value):
        raise ValidationError(
            "%(value)s is not a valid Kubernetes label value: at most 63 characters, letters and "
            "digits at both ends, only - _ . in between.",
            params={"value": value},
        )


def validate_image(value: str) -> None:
    match = IMAGE_RE.match(value)
    if not match or not (match["tag"] or match["digest"]):
        raise ValidationError(
            "%(value)s is not an image reference: write registry/path:tag or "
            "registry/path@sha256:<64 hex digits>.",
            params={"value": value},
        )


def validate_extra_labels(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Extra labels must be a list of labels.")
    for item in value:
        validate_label(item)


class LabelMapping(models.Model):
    label = models.CharField(
        max_length=100,
        validators=[validate_label],
        help_text="Runner label, matched case-insensitively. Globs (*, ?, [...]) are allowed.",
    )
    pool = models.CharField(
        max_length=63,
        validators=[validate_pool],
        help_text="Kubernetes node pool: the value of the riseproject.dev/board node selector.",
    )
    image = models.CharField(
        max_length=255,
        validators=[validate_image],
        help_text="Runner image: registry/path:tag, or pinned as registry/path@sha256:<digest>.",
    )
    extra_labels = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_extra_labels],
        help_text="Other labels a job may carry and still match (for example self-hosted).",
    )
    owner_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Scope to one account (repository.owner.id). Empty: every account.",
    )
    repo_glob = models.CharField(
        max_length=100,
        blank=True,
        help_text="Scope to this account's repositories whose name matches this glob.",
    )
    priority = models.IntegerField(
        default=100, help_text="Among mappings of one scope, the lower number wins."
    )
    enabled = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(repo_glob="") | models.Q(owner_id__isnull=False),
                name="labelmapping_repo_glob_needs_owner",
                violation_error_message="A repository glob needs an account (owner id).",
            ),
            models.CheckConstraint(
                condition=~models.Q(label="") & ~models.Q(pool="") & ~models.Q(image=""),
                name="labelmapping_label_pool_image_set",
            ),
            models.UniqueConstraint(
                Lower("label"),
                "owner_id",
                "repo_glob",
                condition=models.Q(enabled=True),
                name="labelmapping_unique_enabled_label_scope",
                violation_error_message="An enabled mapping for this label and scope exists already.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} → {self.pool}"

    @property
    def scope(self) -> str:
        if self.owner_id is None:
            return "global"
        return "repository" if self.repo_glob else "account"

    def clean(self) -> None:
        super().clean()
        self.label = self.label.strip()
        self.repo_glob = self.repo_glob.strip()
        self.extra_labels = sorted({label.strip().lower() for label in self.extra_labels or []})
        if self.repo_glob and self.owner_id is None:
            raise ValidationError({"repo_glob": "A repository glob needs an account (owner id)."})
        if self.enabled:
            # NULL owner ids are distinct in the database constraint, so global ties are caught here.
            clash = LabelMapping.objects.filter(
                label__iexact=self.label,
                owner_id=self.owner_id,
                repo_glob=self.repo_glob,
                enabled=True,
            ).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError(
                    {"label": "An enabled mapping for this label and scope exists already."}
                )
