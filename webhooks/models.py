"""Label mappings (which runner label means which RISC-V pool and runner image) and accounts."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce, Lower

from webhooks.events import MAX_ID
from webhooks.matching import Scope

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
# A GitHub login: letters, digits and hyphens (underscores for enterprise-managed users).
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
GITHUB_ID_VALIDATORS = [MinValueValidator(1), MaxValueValidator(MAX_ID)]
# What each validator below says of a value it refuses, which stands for %(value)s.
REFUSALS = {
    "label": "%(value)s is not a runner label: use letters, digits and . _ - : / "
    "(with * ? [ ] as globs), at most 100 characters.",
    "pool": "%(value)s is not a valid Kubernetes label value: at most 63 characters, letters and "
    "digits at both ends, only - _ . in between.",
    "image": "%(value)s is not an image reference: write registry/path:tag or "
    "registry/path@sha256:<64 hex digits>.",
    "login": "%(value)s is not a GitHub login: letters, digits, - and _, starting with a letter "
    "or digit.",
}
MAX_WORKERS_MESSAGE = "At least 1 worker; leave it empty for no limit, or block the account."


def _refuse_unless(valid: object, value: str, refusal: str) -> None:
    """Raise the ValidationError REFUSALS[refusal] says of `value`, unless it is `valid`."""
    if not valid:
        raise ValidationError(REFUSALS[refusal], params={"value": value})


def validate_label(value: str) -> None:
    _refuse_unless(LABEL_RE.match(value), value, "label")


def validate_pool(value: str) -> None:
    _refuse_unless(POOL_RE.match(value), value, "pool")


def validate_image(value: str) -> None:
    match = IMAGE_RE.match(value)
    _refuse_unless(match and (match["tag"] or match["digest"]), value, "image")


def validate_login(value: str) -> None:
    _refuse_unless(LOGIN_RE.match(value), value, "login")


def validate_extra_labels(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Extra labels must be a list of labels.")
    for item in value:
        validate_label(item)


class LabelMappingQuerySet(models.QuerySet["LabelMapping"]):
    def with_scope(self) -> "LabelMappingQuerySet":
        """Each mapping annotated with its `scope`, a matching.Scope value: Scope.of in SQL,
        for filtering and ordering by it."""
        return self.annotate(
            scope=models.Case(
                models.When(owner_id__isnull=True, then=models.Value(Scope.GLOBAL)),
                models.When(repo_glob="", then=models.Value(Scope.ACCOUNT)),
                default=models.Value(Scope.REPOSITORY),
                output_field=models.IntegerField(),
            )
        )


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
    # Not a foreign key: a mapping may be scoped to an account that has no Account row.
    owner_id = models.BigIntegerField(
        null=True,
        blank=True,
        validators=GITHUB_ID_VALIDATORS,
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

    objects = LabelMappingQuerySet.as_manager()

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
            # Two enabled mappings with the same label, scope and priority would tie: only their
            # ids would decide. Owner id 0 stands for "every account", so global ties count too.
            models.UniqueConstraint(
                Lower("label"),
                Coalesce("owner_id", models.Value(0)),
                Lower("repo_glob"),
                "priority",
                condition=models.Q(enabled=True),
                name="labelmapping_no_enabled_tie",
                violation_error_message=(
                    "An enabled mapping with this label, scope and priority exists already."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} → {self.pool}"

    def clean(self) -> None:
        super().clean()
        self.label = self.label.strip()
        self.repo_glob = self.repo_glob.strip()
        self.extra_labels = sorted({label.strip().lower() for label in self.extra_labels or []})
        if self.repo_glob and self.owner_id is None:
            raise ValidationError({"repo_glob": "A repository glob needs an account (owner id)."})
        tie = self.enabled_tie()
        if tie is not None:
            raise ValidationError(
                {
                    "label": (
                        f"Mapping #{tie.pk} ({tie}) is enabled with the same label, scope and "
                        f"priority {tie.priority}: the two would tie. Give one of them another "
                        "priority, or disable one."
                    )
                }
            )

    def enabled_tie(self) -> "LabelMapping | None":
        """Another enabled mapping this one would tie with, were this one enabled."""
        if not self.enabled:
            return None
        return (
            LabelMapping.objects.filter(
                label__iexact=self.label.strip(),
                owner_id=self.owner_id,
                repo_glob__iexact=self.repo_glob.strip(),
                priority=self.priority,
                enabled=True,
            )
            .exclude(pk=self.pk)
            .first()
        )


class AccountType(models.TextChoices):
    ORGANIZATION = "Organization"
    USER = "User"


class Account(models.Model):
    """A GitHub organization or user, keyed by its id. Accounts with no row get the defaults:
    served by this deployment, not blocked, no worker cap."""

    github_id = models.BigIntegerField(
        "GitHub id",
        unique=True,
        validators=GITHUB_ID_VALIDATORS,
        help_text="The owner id GitHub sends as repository.owner.id.",
    )
    login = models.CharField(max_length=100, validators=[validate_login])
    type = models.CharField(
        max_length=12, choices=AccountType.choices, default=AccountType.ORGANIZATION
    )
    staging = models.BooleanField(
        default=False,
        help_text="Production forwards this account's workflow_job deliveries to staging.",
    )
    blocked = models.BooleanField(
        default=False,
        help_text=(
            "Ignore this account's new jobs. Jobs recorded before the block still move forward, "
            "so their demand drains."
        ),
    )
    max_workers = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1, MAX_WORKERS_MESSAGE)],
        help_text="Most runners the scheduler starts for this account at once. Empty: no limit.",
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["login", "github_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(github_id__gte=1),
                name="account_github_id_positive",
                violation_error_message="A GitHub id is a positive number.",
            ),
            models.CheckConstraint(condition=~models.Q(login=""), name="account_login_set"),
            models.CheckConstraint(
                condition=models.Q(type__in=AccountType.values),
                name="account_type_known",
                violation_error_message="An account is an Organization or a User.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_workers__isnull=True) | models.Q(max_workers__gte=1),
                name="account_max_workers_positive",
                violation_error_message=MAX_WORKERS_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.login} ({self.github_id})"

    def clean(self) -> None:
        super().clean()
        self.login = self.login.strip()
