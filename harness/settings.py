"""Settings for the test suite and bench.chaos: RunnerHub's own settings, with test values for the secrets.

The suite's Redis is started on a free port by tests/conftest.py.
"""
import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "runnerhub-test-secret-key-not-for-production")
os.environ.setdefault("GITHUB_WEBHOOK_SECRET", "runnerhub-test-webhook-secret-0123456789")
os.environ.setdefault("LOG_LEVEL", "DEBUG")

from runnerhub.settings import *  # noqa: E402,F403

# Every test sees the pages as drawn now; tests/test_capacity.py turns the cache on.
REPORT_CACHE_SECONDS = 0

# Test users need no strong hashing; the admin tests log one in per test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# factory-boy narrates every declaration at DEBUG; RunnerHub's own loggers stay at DEBUG.
LOGGING["loggers"]["factory"] = {"level": "WARNING"}  # noqa: F405
