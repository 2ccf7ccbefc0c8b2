"""Configuration checks, run by `manage.py check` and at server start-up."""
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

from runnerhub.caches import SERVICE_NAME, SOCKET_TIMEOUT, sentinel_address

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
    problems += _redis_sentinel_problems()
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


def _redis_sentinel_problems() -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if bad := [value for value in settings.REDIS_SENTINELS if sentinel_address(value) is None]:
        problems.append(
            checks.Error(
                f"REDIS_SENTINELS has {', '.join(map(repr, bad))}, which is not host:port.",
                hint="The sentinels, comma-separated: 10.0.0.5:26379,[fd00::6]:26379.",
                id="runnerhub.E009",
            )
        )
    if settings.REDIS_SENTINELS and not SERVICE_NAME.fullmatch(settings.REDIS_SENTINEL_MASTER):
        problems.append(
            checks.Error(
                f"REDIS_SENTINEL_MASTER is {settings.REDIS_SENTINEL_MASTER!r}; it must be the "
                "name in the sentinels' `sentinel monitor` line, in lowercase letters, digits, "
                "`.`, `_` and `-`.",
                hint="django-redis carries it as the host of a URL, which is lowercased.",
                id="runnerhub.E010",
            )
        )
    if settings.REDIS_MIN_REPLICAS_ACK and settings.REDIS_REPLICA_ACK_TIMEOUT_MS >= (
        SOCKET_TIMEOUT * 1000
    ):
        problems.append(
            checks.Error(
                f"REDIS_REPLICA_ACK_TIMEOUT_MS is {settings.REDIS_REPLICA_ACK_TIMEOUT_MS}; it must "
                f"be under Redis's {SOCKET_TIMEOUT * 1000} ms socket timeout, or the socket gives "
                "up before the replicas' acknowledgement can arrive.",
                hint="The default, 1000, leaves room for it.",
                id="runnerhub.E011",
            )
        )
    if settings.REDIS_SENTINELS and not settings.REDIS_MIN_REPLICAS_ACK:
        problems.append(
            checks.Warning(
                "REDIS_MIN_REPLICAS_ACK is 0 with Sentinel: a failover can lose deliveries the old "
                "primary acknowledged last, which GitHub shows as delivered.",
                hint="Leave it at its default with Sentinel, 1.",
                id="runnerhub.W003",
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
    # Django's own parse refuses names it would not serve (an underscore): compare those whole.
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
