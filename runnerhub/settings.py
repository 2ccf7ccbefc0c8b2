"""RunnerHub settings, read from the environment.

Development defaults are safe to run on a laptop (`DEBUG=1`, SQLite, a local Redis). With
`DEBUG` off, the defaults are the production ones and the secrets are required.
"""
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from runnerhub.caches import redis_cache
from runnerhub.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (or SECRET_KEY_FILE, naming a file that "
            "holds it): a long random string that stays the same across restarts and replicas."
        )
    SECRET_KEY = "django-insecure-runnerhub-development-only"

# Earlier keys, still accepted for sessions and CSRF while a new SECRET_KEY rolls out.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*" if DEBUG else "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Which deployment this is: the prefix of every Redis key, and whether the staging proxy runs.
# With DEBUG off it has no default (check runnerhub.E002): a staging deployment that forgot it
# would write into production's keys in a shared Redis.
RUNNERHUB_ENV = env_str("RUNNERHUB_ENV", "prod" if DEBUG else "")

# The webhook secret is taken whole, commas and all. During a rotation the earlier secrets go in
# GITHUB_WEBHOOK_SECRET_PREVIOUS (comma-separated); a delivery signed with any is accepted.
# A missing secret is check runnerhub.E001, which stops the server at start-up.
GITHUB_WEBHOOK_SECRET = env_str("GITHUB_WEBHOOK_SECRET")
GITHUB_WEBHOOK_SECRET_PREVIOUS = env_list("GITHUB_WEBHOOK_SECRET_PREVIOUS")
GITHUB_WEBHOOK_SECRETS = [
    secret for secret in [GITHUB_WEBHOOK_SECRET, *GITHUB_WEBHOOK_SECRET_PREVIOUS] if secret
]

WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# A delivery's whole body must arrive within this (408 after it): GitHub sends a megabyte in
# milliseconds, and a client trickling its body must not hold a thread for longer.
WEBHOOK_BODY_TIMEOUT_SECONDS = env_float("WEBHOOK_BODY_TIMEOUT_SECONDS", 3.0, minimum=0.1)
# At least GitHub's 3 days of manual redelivery: a late event must find its job, not recreate it.
HISTORY_RETENTION_DAYS = env_int("HISTORY_RETENTION_DAYS", 15, minimum=3)
# A pending or running job expires after this long without news: GitHub cancels a job queued
# for 24 h and stops a self-hosted one after 5 days, so only a lost delivery outlives it.
ACTIVE_JOB_DAYS = env_int("ACTIVE_JOB_DAYS", 7, minimum=6)
DELIVERY_LOG_LENGTH = env_int("DELIVERY_LOG_LENGTH", 10_000, minimum=100)
EVENTS_STREAM_LENGTH = env_int("EVENTS_STREAM_LENGTH", 100_000, minimum=1000)
# The label mappings are cached in each process and reloaded when their version in Redis moves;
# this bounds how long a process keeps them even if a version bump was lost.
MAPPING_CACHE_SECONDS = env_int("MAPPING_CACHE_SECONDS", 60, minimum=1)

# Production forwards the deliveries of accounts flagged staging here (`http(s)://host[:port]/`).
STAGING_URL = env_str("STAGING_URL")
# The whole forwarding exchange; GitHub gives up on a delivery after 10 s (check runnerhub.E005).
STAGING_TIMEOUT_SECONDS = env_int("STAGING_TIMEOUT_SECONDS", 8, minimum=1)
# A staging that drops packets costs this per forward, not the whole timeout.
STAGING_CONNECT_TIMEOUT_SECONDS = env_float("STAGING_CONNECT_TIMEOUT_SECONDS", 2.0, minimum=0.1)
# Forwards in flight per process: past it 503 at once, so a failing staging holds at most this
# many of production's threads whatever staging's accounts send.
STAGING_MAX_FORWARDS = env_int("STAGING_MAX_FORWARDS", 2, minimum=1)
# After this many failed forwards in a row a process stops trying staging for a while (503).
STAGING_CIRCUIT_FAILURES = env_int("STAGING_CIRCUIT_FAILURES", 5, minimum=1)
STAGING_CIRCUIT_SECONDS = env_int("STAGING_CIRCUIT_SECONDS", 30, minimum=1)

# /usage and /history show repositories and jobs; on, only signed-in staff may see them.
REPORTS_REQUIRE_LOGIN = env_bool("REPORTS_REQUIRE_LOGIN", False)
# Requests other than deliveries and /health that one process serves at a time (the pages, the
# admin, /metrics); past it they get 503 with Retry-After, so deliveries keep the other threads.
PAGE_CONCURRENCY = env_int("PAGE_CONCURRENCY", 2, minimum=1)
PAGE_RETRY_AFTER_SECONDS = env_int("PAGE_RETRY_AFTER_SECONDS", 2, minimum=1)
# Anonymous viewers of /usage and /history get a page drawn at most this long ago (per
# process; 0: never cached), so that a crowd or a loop asking for one page draws it once.
REPORT_CACHE_SECONDS = env_int("REPORT_CACHE_SECONDS", 3, minimum=0)

# The scheduler (`manage.py run_scheduler`). Its GitHub App settings are required by it alone:
# the web tier never talks to GitHub, so `make run` serves without them.
GITHUB_APP_ID = env_str("GITHUB_APP_ID")
GITHUB_APP_PRIVATE_KEY = env_str("GITHUB_APP_PRIVATE_KEY")
GITHUB_API_URL = env_str("GITHUB_API_URL", "https://api.github.com")
# Empty: GitHub's default group of each organization; another name is created when missing.
RUNNER_GROUP = env_str("RUNNER_GROUP")
RUNNER_NAMESPACE = env_str("RUNNER_NAMESPACE", "runnerhub-runners")
SCHEDULER_INTERVAL_SECONDS = env_int("SCHEDULER_INTERVAL_SECONDS", 15, minimum=1)
# The leader's lease; a standby takes over within one lease after the leader dies.
SCHEDULER_LEASE_SECONDS = env_int("SCHEDULER_LEASE_SECONDS", 30, minimum=3)
# A pod still Pending after this long (an image that does not pull, a board that never frees)
# is deleted and its job gets a new runner.
RUNNER_START_TIMEOUT = env_int("RUNNER_START_TIMEOUT", 900, minimum=10)
# A running runner with no job for this long, while its label set has more runners than jobs.
RUNNER_IDLE_TIMEOUT = env_int("RUNNER_IDLE_TIMEOUT", 600, minimum=10)
# Pods not yet running per node pool, across accounts, so a full or broken board does not
# collect a pile of Pending pods.
POOL_MAX_PENDING_PODS = env_int("POOL_MAX_PENDING_PODS", 4, minimum=1)
# How often pods and GitHub runners that nothing tracks are looked for.
ORPHAN_SWEEP_SECONDS = env_int("ORPHAN_SWEEP_SECONDS", 300, minimum=10)
# Timeout of every GitHub and Kubernetes call the scheduler makes.
SCHEDULER_API_TIMEOUT_SECONDS = env_int("SCHEDULER_API_TIMEOUT_SECONDS", 10, minimum=1)

# Reconciliation with GitHub, for deliveries that never arrived. A job without news for this
# long is checked against GitHub's own record of it (seconds).
RECONCILE_PENDING_AFTER = env_int("RECONCILE_PENDING_AFTER", 600, minimum=60)
RECONCILE_RUNNING_AFTER = env_int("RECONCILE_RUNNING_AFTER", 3600, minimum=60)
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 60, minimum=5)
# The share of each installation's hourly rate limit that reconciliation and redelivery may
# spend; the rest is the runners'.
RECONCILE_BUDGET_PERCENT = env_int("RECONCILE_BUDGET_PERCENT", 10, minimum=1)
# The leader asks GitHub to redeliver the App's failed deliveries of the last hours. Only the
# deployment GitHub delivers to (production) does; staging's deliveries come through it.
REDELIVER_FAILED = env_bool("REDELIVER_FAILED", RUNNERHUB_ENV == "prod")
REDELIVERY_INTERVAL_SECONDS = env_int("REDELIVERY_INTERVAL_SECONDS", 300, minimum=10)
REDELIVERY_WINDOW_HOURS = env_int("REDELIVERY_WINDOW_HOURS", 6, minimum=1)
REDELIVERY_MAX_PER_RUN = env_int("REDELIVERY_MAX_PER_RUN", 50, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "runnerhub.apps.RunnerHubConfig",
    "webhooks",
    "reports",
    "runners",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # /health and /metrics for probes and scrapers, which name the pod's address as host.
    "runnerhub.middleware.ProbesMiddleware",
    "runnerhub.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "runnerhub.urls"
WSGI_APPLICATION = "runnerhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis holds RunnerHub's state, not a cache: no IGNORE_EXCEPTIONS, short socket timeouts
# (runnerhub/caches.py). With REDIS_SENTINELS (`host:port,...`) the primary is the one the
# sentinels name for REDIS_SENTINEL_MASTER, found again after a failover; REDIS_URL is unused.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SENTINELS = env_list("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "runnerhub")
REDIS_PASSWORD = env_str("REDIS_PASSWORD")
REDIS_SENTINEL_PASSWORD = env_str("REDIS_SENTINEL_PASSWORD")
# Replication is asynchronous: a failover loses what the old primary acknowledged and had not
# yet sent on. A delivery is answered 2xx only once this many replicas hold it (WAIT), else 503.
REDIS_MIN_REPLICAS_ACK = env_int("REDIS_MIN_REPLICAS_ACK", 1 if REDIS_SENTINELS else 0)
# Under the socket timeout (check runnerhub.E011): WAIT must answer before the socket gives up.
REDIS_REPLICA_ACK_TIMEOUT_MS = env_int("REDIS_REPLICA_ACK_TIMEOUT_MS", 1000, minimum=1)
# django-redis keeps its connections across requests unless this says otherwise; spelled out,
# because Django closes the caches at the end of every request (deliveries included) and an
# absent setting is looked for, and missed, each time.
DJANGO_REDIS_CLOSE_CONNECTION = False
CACHES = {
    "default": redis_cache(
        REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_PASSWORD, REDIS_SENTINEL_PASSWORD
    ),
    # The drawings of the report pages anonymous viewers share (reports/cache.py).
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "runnerhub-pages",
        "OPTIONS": {"MAX_ENTRIES": 128},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development files are served straight from the app folders, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Production defaults: HTTPS only behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes and metrics scrapers talk plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
# A host served over HTTPS only, subdomains included, and eligible for browsers' preload list.
# On a parent domain whose other subdomains are not all HTTPS, set both of these to 0.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
# Every HTML page, the admin's included: scripts and styles only from RunnerHub's own static
# files, never inline (the report pages' refresh is static/reports/refresh.js), no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)

DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's request logger prints the request path and status of every 4xx; the webhook
        # logs its own event-style line with the delivery id instead.
        "django.request": {"level": "ERROR"},
    },
}
