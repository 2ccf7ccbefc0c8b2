"""Template filters for the report pages: durations and times, humanely."""
from django import template
from django.utils.html import format_html

from reports.jobs import PRIVATE_REPOSITORY, JobRow, iso_utc

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


@register.simple_tag
def repository(job: JobRow) -> str:
    """The job's repository, linked; "private repository" when masked for this viewer.

    A tag rather than an include: /usage draws it for every active job, and format_html
    escapes what came from the payload just as the template would.
    """
    if job.masked:
        return format_html('<span class="private">{}</span>', PRIVATE_REPOSITORY)
    if not job.repo_url:
        return job.repo or "—"
    badge = (
        format_html(' <span class="badge private-badge">{}</span>', "private")
        if job.private
        else ""
    )
    return format_html('<a href="{}">{}</a>{}', job.repo_url, job.repo, badge)


@register.simple_tag
def job_link(job: JobRow) -> str:
    """The job's name linked to GitHub, and its workflow; only its id when masked."""
    if job.masked:
        return format_html('<span class="muted">job {}</span>', job.job_id)
    name = job.job_name or job.job_id
    link = format_html('<a href="{}">{}</a>', job.job_url, name) if job.job_url else name
    if job.workflow_name:
        return format_html('{} <span class="muted">{}</span>', link, job.workflow_name)
    return format_html("{}", link)
