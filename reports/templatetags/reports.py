"""Template filters for the report pages: durations and times, humanely."""
from django import template

from reports.jobs import iso_utc

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """`45 s`, `4 min`, `2 h 3 min`, `3 d 4 h`; an em dash when unknown."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 3600:
        return f"{minutes} min"
    if whole < 86400:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


@register.filter
def utc(seconds: float | None) -> str:
    """Epoch seconds as `2025-01-31T12:34:56Z`; an em dash when unknown."""
    return iso_utc(seconds) or "—"

