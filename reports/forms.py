"""The filters of /history as a form: it checks a request's parameters into a HistoryQuery,
answering the first one that is wrong as `parameter: why`, and it draws the filter bar."""
import math
import time
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from reports import history
from reports.sampling import DAY
from webhooks.events import Status

MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
MAX_PERIOD_DAYS = 3660
MAX_FILTER_LENGTH = 100
STATUSES = tuple(status.value for status in Status)
WHOLE_NUMBER = "must be a whole number of at least 1"


class TextField(forms.Field):
    """A parameter as trimmed text, at most `longest` characters when that is given.

    Not a CharField: that refuses a NUL, which here only matches no job, and would put a
    maxlength on the input, which the filter bar does not have."""

    def __init__(self, *, longest: int | None = None, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)
        self.longest = longest

    def to_python(self, value: Any) -> str:
        return "" if value is None else str(value).strip()

    def validate(self, value: str) -> None:
        if self.longest is not None and len(value) > self.longest:
            raise ValidationError(f"at most {self.longest} characters", code="max_length")


class AnyCaseChoiceField(forms.ChoiceField):
    """One of the choices, written in any case and with spaces around, or empty for any."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip().lower()


class WholeNumberField(forms.IntegerField):
    """A whole number from 1 to `max_value` in ASCII digits only, where int() would also take a
    sign, a decimal point or underscores; `initial` when the parameter is empty or missing."""

    default_error_messages = {
        "invalid": WHOLE_NUMBER,
        "min_value": WHOLE_NUMBER,
        "max_value": "must be at most %(limit_value)s",
    }

    def __init__(self, *, initial: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(
            required=False, initial=initial, min_value=1, max_value=max_value, **kwargs
        )

    def to_python(self, value: Any) -> int:
        text = "" if value is None else str(value).strip()
        if not text:
            return self.initial
        if not (text.isascii() and text.isdigit()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class HistoryFilters(forms.Form):
    """The period, filters and page of /history.

    The fields are declared in the order in which they are checked: a request with several
    wrong parameters is answered with the first (`reason`). The bar draws them in its own order,
    without `page`, so that new filters start at the first page.
    """

    end = TextField(label="To", widget=forms.TextInput(attrs={"placeholder": "now", "size": 12}))
    start = TextField(
        label="From",
        widget=forms.TextInput(attrs={"placeholder": "-15d or 2025-01-31", "size": 12}),
    )
    status = AnyCaseChoiceField(
        label="Status",
        required=False,
        choices=[("", "any"), *((status, status) for status in STATUSES)],
        error_messages={"invalid_choice": f"must be one of {', '.join(STATUSES)}"},
    )
    account = TextField(
        label="Account",
        longest=MAX_FILTER_LENGTH,
        widget=forms.TextInput(
            attrs={"placeholder": "login or id", "list": "accounts", "size": 14}
        ),
    )
    pool = TextField(
        label="Pool",
        longest=MAX_FILTER_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "any", "list": "pools", "size": 14}),
    )
    page = WholeNumberField(initial=1, max_value=MAX_PAGE)
    per_page = WholeNumberField(
        label="Per page",
        initial=history.DEFAULT_PER_PAGE,
        max_value=MAX_PER_PAGE,
        widget=forms.NumberInput(attrs={"size": 4}),
    )

    def __init__(
        self,
        data: Any = None,
        *,
        now: float | None = None,
        retention_days: int | None = None,
        **kwargs: Any,
    ) -> None:
        """`now` and `retention_days` (the clock and HISTORY_RETENTION_DAYS unless given) set
        where a relative time counts from and where the period starts when `start` is empty.
        The inputs have no ids: each sits inside its label."""
        super().__init__(data, auto_id=False, **kwargs)
        self.now = time.time() if now is None else now
        self.retention_days = (
            settings.HISTORY_RETENTION_DAYS if retention_days is None else retention_days
        )

    @classmethod
    def showing(cls, query: history.HistoryQuery) -> "HistoryFilters":
        """The filter bar of a page: `query` as it was understood (trimmed, in lower case, with
        the page size it got), not as it was typed."""
        return cls(initial=query.params())

    def clean(self) -> dict[str, Any]:
        """The period: up to now and whatever arrives while the page is read when `end` is
        empty, from the retention ago when `start` is."""
        cleaned = super().clean()
        end = self._moment("end", math.inf, is_end=True)
        start = self._moment("start", self.now - self.retention_days * DAY, is_end=False)
        if start is None or end is None:
            return cleaned
        if start >= end and not (start == end and start in (history.EARLIEST, history.LATEST)):
            self.add_error("start", "must be before end")
            return cleaned
        # Nothing is kept longer than the retention; this only bounds the number of days counted.
        # Both clamped to the same edge: an empty period, not an error.
        start = min(max(start, min(end, self.now) - MAX_PERIOD_DAYS * DAY), end)
        cleaned["period"] = (start, end)
        return cleaned

    def _moment(self, name: str, default: float, is_end: bool) -> float | None:
        """The time parameter `name` gives, `default` when it is empty; None, with the error
        added, when it names no time."""
        text = self.cleaned_data.get(name, "")
        if not text:
            return default
        try:
            return history.parse_time(name, text, self.now, is_end)
        except history.QueryError:
            self.add_error(name, history.TIME_HELP)
            return None

    def query(self) -> history.HistoryQuery:
        """The request's period, filters and page; for a valid form only."""
        data = self.cleaned_data
        start, end = data["period"]
        return history.HistoryQuery(
            start=start,
            end=end,
            account=data["account"],
            pool=data["pool"],
            status=data["status"],
            page=data["page"],
            per_page=data["per_page"],
            start_text=data["start"],
            end_text=data["end"],
        )

    def reason(self) -> str:
        """What is wrong with the request, as `parameter: why`, for the first parameter checked
        that is wrong; for an invalid form only."""
        name = next(name for name in self.fields if name in self.errors)
        return f"{name}: {self.errors[name][0]}"
