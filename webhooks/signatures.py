"""GitHub webhook signatures: HMAC-SHA256 over the raw request body."""
import enum
import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "sha256="


class Verdict(enum.StrEnum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


def verify(body: bytes, header: str | None, secrets: Sequence[bytes]) -> Verdict:
    """Check `X-Hub-Signature-256` against every configured secret, in constant time.

    All secrets are compared, so the time taken does not tell which one matched. The expected
    signature never leaves this function.
    """
    if not header:
        return Verdict.MISSING
    if not header.startswith(PREFIX) or not secrets:
        return Verdict.INVALID
    given = header.encode("ascii", "replace")
    matches = [
        hmac.compare_digest(given, (PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()).encode())
        for secret in secrets
    ]
    return Verdict.VALID if any(matches) else Verdict.INVALID


def sign(body: bytes, secret: bytes) -> str:
    """The header value GitHub would send for `body`: for tests, benchmarks and the proxy."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()
