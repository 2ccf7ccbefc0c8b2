"""Typed readers for configuration that comes from the environment.

Every value may also be given as a file: `NAME_FILE=/run/secrets/name` reads the value from that
file (Docker and Kubernetes secrets), so secrets need not sit in the process environment. This
holds for every reader here, booleans and numbers included.
"""
import math
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Every name read so far, with the lowest number it accepts (None for text and booleans): what
# the README's configuration table is tested against.
READ: dict[str, float | None] = {}


def _raw(name: str, minimum: float | None = None) -> str | None:
    """The value of `name`, from `NAME_FILE` when that is set (stripped of the newline that
    `kubectl create secret --from-file` leaves), else from the environment; None when unset."""
    READ[name] = minimum
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str = "") -> str:
    raw = _raw(name)
    return default if raw is None else raw


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = _raw(name, minimum)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = _raw(name, minimum)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {raw!r}") from None
    if not minimum <= value < math.inf:  # also refuses nan
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {raw}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
