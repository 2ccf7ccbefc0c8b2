"""Forms of the admin: the mapping form's label list, and the match preview."""
import re
from typing import Any

from django import forms

from webhooks.events import MAX_ID
from webhooks.models import MAX_WORKERS_MESSAGE, Account, LabelMapping

# A `runs-on` list as people paste it: `a, b`, `[a, b]`, `["a", "b"]` or one `- a` per line.
_SEPARATORS = re.compile(r"[,\n]")
MAX_PREVIEW_LABELS = 50
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def split_labels(text: str) -> list[str]:
    body = text.strip().removeprefix("[").removesuffix("]")
    labels = []
    for part in _SEPARATORS.split(body):
        part = part.strip()
        part = part.removeprefix("- ").strip().strip("'\"").strip()
        if part:
            labels.append(part)
    return labels


class LabelListField(forms.CharField):
    """A list of labels typed as `self-hosted, linux`; stored as a JSON list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return split_labels(super().to_python(value) or "")


class LabelMappingForm(forms.ModelForm):
    extra_labels = LabelListField(
        required=False,
        help_text=(
            "Other labels a job may carry and still match, separated by commas "
            "(for example: self-hosted, linux-*; globs * ? [...] allowed). Empty: only this label."
        ),
    )

    class Meta:
        model = LabelMapping
        fields = [
            "label",
            "extra_labels",
            "pool",
            "image",
            "owner_id",
            "repo_glob",
            "priority",
            "enabled",
            "note",
        ]
        labels = {"owner_id": "Owner id", "repo_glob": "Repository glob"}
        # The admin renders help texts as HTML, so the model's `<digest>` would vanish.
        help_texts = {
            "image": (
                "Runner image: registry/path:tag, or pinned as registry/path@sha256: followed "
                "by the 64 hex digits of the digest."
            )
        }


class AccountForm(forms.ModelForm):
    # One message for every number under 1, rather than the generic "at least 0" for negatives.
    max_workers = forms.IntegerField(
        required=False, help_text=Account._meta.get_field("max_workers").help_text
    )

    class Meta:
        model = Account
        fields = ["github_id", "login", "type", "staging", "blocked", "max_workers", "note"]

    def clean_max_workers(self) -> int | None:
        value = self.cleaned_data["max_workers"]
        if value is not None and value < 1:
            raise forms.ValidationError(MAX_WORKERS_MESSAGE)
        return value


class PreviewForm(forms.Form):
    runs_on = forms.CharField(
        label="runs-on",
        max_length=2000,
        required=False,  # a job may come with no labels at all; the webhook ignores it then
        help_text="The job's labels, separated by commas: ubuntu-24.04-riscv, self-hosted",
    )
    owner_id = forms.IntegerField(
        label="Owner id",
        min_value=1,
        max_value=MAX_ID,
        help_text="repository.owner.id of the organization or user.",
    )
    repository = forms.CharField(max_length=200, help_text="The repository's name, or owner/name.")

    def clean_runs_on(self) -> list[str]:
        labels = split_labels(self.cleaned_data["runs_on"])
        if len(labels) > MAX_PREVIEW_LABELS:
            raise forms.ValidationError(f"At most {MAX_PREVIEW_LABELS} labels.")
        return labels

    def clean_repository(self) -> str:
        name = self.cleaned_data["repository"].strip().rsplit("/", 1)[-1]
        if not REPO_NAME_RE.match(name):
            raise forms.ValidationError(
                "A repository name is letters, digits, . _ and -, at most 100 characters."
            )
        return name
