"""The settings a delivery reads, as one frozen object per process.

Each read of `django.conf.settings` goes through its lazy object, and a delivery reads about
twenty; this copy is made on first use and made again whenever a setting changes (Django sends
`setting_changed` for `override_settings` and for pytest-django's `settings` fixture).
"""
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from webhooks.keys import Keys


@dataclass(frozen=True)
class DeliverySettings:
    keys: Keys
    secrets: tuple[bytes, ...]
    max_body_bytes: int
    body_timeout_seconds: float
    ssl_redirect: bool
    proxy_ssl_header: tuple[str, str] | None
    use_x_forwarded_host: bool
    allowed_hosts: tuple[str, ...]
    mapping_cache_seconds: float
    staging_url: str
    min_replicas_ack: int
    replica_ack_timeout_ms: int
    history_retention_days: int
    active_job_days: int
    delivery_log_length: int
    events_stream_length: int

    @property
    def env(self) -> str:
        return self.keys.env


_current: DeliverySettings | None = None


def current() -> DeliverySettings:
    return _current or _load()


def _load() -> DeliverySettings:
    global _current
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows with DEBUG on
    _current = DeliverySettings(
        keys=Keys(settings.RUNNERHUB_ENV),
        secrets=tuple(secret.encode() for secret in settings.GITHUB_WEBHOOK_SECRETS),
        max_body_bytes=settings.WEBHOOK_MAX_BODY_BYTES,
        body_timeout_seconds=settings.WEBHOOK_BODY_TIMEOUT_SECONDS,
        ssl_redirect=settings.SECURE_SSL_REDIRECT,
        proxy_ssl_header=settings.SECURE_PROXY_SSL_HEADER,
        use_x_forwarded_host=settings.USE_X_FORWARDED_HOST,
        allowed_hosts=tuple(allowed),
        mapping_cache_seconds=settings.MAPPING_CACHE_SECONDS,
        staging_url=settings.STAGING_URL,
        min_replicas_ack=settings.REDIS_MIN_REPLICAS_ACK,
        replica_ack_timeout_ms=settings.REDIS_REPLICA_ACK_TIMEOUT_MS,
        history_retention_days=settings.HISTORY_RETENTION_DAYS,
        active_job_days=settings.ACTIVE_JOB_DAYS,
        delivery_log_length=settings.DELIVERY_LOG_LENGTH,
        events_stream_length=settings.EVENTS_STREAM_LENGTH,
    )
    return _current


def _forget(**kwargs: Any) -> None:
    global _current
    _current = None


setting_changed.connect(_forget, dispatch_uid="webhooks.delivery_settings")
