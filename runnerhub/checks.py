"""Configuration checks, run by `manage.py check` and at server start-up."""
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

ENVIRONMENTS = ("prod", "staging")
MIN_SECRET_LENGTH = 32
GITHUB_TIMEOUT_SECONDS = 10


@checks.register("runnerhub")
def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if not settings.GITHUB_WEBHOOK_SECRET:
        # Fatal in production; in development the other pages still work without one.
        kind, check_id = (checks.Warning, "W002") if settings.DEBUG else (checks.Error, "E001")
        problems.append(
            kind(
                "GITHUB_WEBHOOK_SECRET is not set: every delivery would be refused.",
                hint=(
                    "Set it, or GITHUB_WEBHOOK_SECRET_FILE naming a file that holds it, to the "
                    "GitHub App's webhook secret; during a rotation the earlier one goes in "
                    "GITHUB_WEBHOOK_SECRET_PREVIOUS."
                ),
                id=f"runnerhub.{check_id}",
            )
        )
    if not settings.RUNNERHUB_ENV:
        problems.append(
            checks.Error(
                "RUNNERHUB_ENV is not set; with DEBUG off it must be set, to prod or staging.",
                hint=(
                    "It is the prefix of every Redis key: a staging deployment without it would "
                    "write into production's keys in a shared Redis."
                ),
                id="runnerhub.E002",
            )
        )
    elif settings.RUNNERHUB_ENV not in ENVIRONMENTS:
        problems.append(
            checks.Error(
                f"RUNNERHUB_ENV is {settings.RUNNERHUB_ENV!r}; it must be prod or staging.",
                id="runnerhub.E002",
            )
        )
    if urlsplit(settings.REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        problems.append(
            checks.Error(
                "REDIS_URL must be a redis://, rediss:// or unix:// URL.", id="runnerhub.E003"
            )
        )
    problems += _staging_url_problems()
    if settings.STAGING_TIMEOUT_SECONDS >= GITHUB_TIMEOUT_SECONDS:
        problems.append(
            checks.Error(
                f"STAGING_TIMEOUT_SECONDS is {settings.STAGING_TIMEOUT_SECONDS}; it must be under "
                f"GitHub's {GITHUB_TIMEOUT_SECONDS} s, or GitHub gives up before production can "
                "answer 504.",
                hint="The default, 8, leaves production time to answer.",
                id="runnerhub.E005",
            )
        )
    if any(len(secret) < MIN_SECRET_LENGTH for secret in settings.GITHUB_WEBHOOK_SECRETS):
        # A short secret can be guessed offline from any one signed delivery.
        kind, check_id = (checks.Warning, "W001") if settings.DEBUG else (checks.Error, "E006")
        problems.append(
            kind(
                f"A webhook secret is shorter than {MIN_SECRET_LENGTH} characters.",
                hint="Generate one with: openssl rand -hex 32",
                id=f"runnerhub.{check_id}",
            )
        )
    return problems


def _staging_url_problems() -> list[checks.CheckMessage]:
    if not settings.STAGING_URL:
        return []
    parts = urlsplit(settings.STAGING_URL)
    if parts.scheme not in ("http", "https"):
        return [checks.Error("STAGING_URL must be an http:// or https:// URL.", id="runnerhub.E004")]
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if not host:
        return [
            checks.Error(
                "STAGING_URL has no host.",
                hint="Write it as http(s)://host[:port]/[path].",
                id="runnerhub.E007",
            )
        ]
    # A deployment that forwarded to itself would pass each delivery round until GitHub gave up.
    own = [pattern for pattern in settings.ALLOWED_HOSTS if pattern != "*"]
    domain, _ = split_domain_port(parts.netloc.rpartition("@")[2].lower())
    if validate_host(domain or host, own):
        return [
            checks.Error(
                f"STAGING_URL points at {host}, one of this deployment's ALLOWED_HOSTS.",
                hint="Staging is another deployment, with a host name of its own.",
                id="runnerhub.E008",
            )
        ]
    return []


def fail_on_configuration_errors() -> None:
    """Stop start-up with the checks' own words when the configuration cannot work."""
    errors = [problem for problem in check_configuration() if problem.is_serious()]
    if errors:
        words = (f"{e.id}: {e.msg} {e.hint or ''}".strip() for e in errors)
        raise ImproperlyConfigured("; ".join(words))
