"""Forms of the admin: the mapping form's label list, and the account form."""
import re
from typing import Any

from django import forms

from webhooks.models import MAX_WORKERS_MESSAGE, Account, LabelMapping

# A `runs-on` list as people paste it: `a, b`, `[a, b]`, `["a", "b"]` or one `- a` per line.
_SEPARATORS = re.compile(r"[,\n]")


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
            "(for example: self-hosted, linux). Empty: only this label."
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
