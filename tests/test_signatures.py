import hashlib
import hmac

from webhooks.signatures import Verdict, sign, verify

BODY = b'{"action": "queued"}'
SECRET = b"first-secret-0123456789"


def test_it_accepts_the_signature_github_computes() -> None:
    header = "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == header
    assert verify(BODY, header, [SECRET]) == Verdict.VALID


def test_it_accepts_any_of_several_secrets_during_a_rotation() -> None:
    old, new = b"old-secret-0123456789", b"new-secret-0123456789"
    assert verify(BODY, sign(BODY, old), [new, old]) == Verdict.VALID
    assert verify(BODY, sign(BODY, new), [new, old]) == Verdict.VALID


def test_it_refuses_a_signature_made_with_another_secret() -> None:
    assert verify(BODY, sign(BODY, b"someone-else"), [SECRET]) == Verdict.INVALID


def test_it_refuses_a_signature_of_other_bytes() -> None:
    assert verify(BODY + b" ", sign(BODY, SECRET), [SECRET]) == Verdict.INVALID


def test_a_missing_header_is_missing() -> None:
    assert verify(BODY, None, [SECRET]) == Verdict.MISSING
    assert verify(BODY, "", [SECRET]) == Verdict.MISSING


def test_a_sha1_signature_is_not_accepted() -> None:
    sha1 = "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    assert verify(BODY, sha1, [SECRET]) == Verdict.INVALID


def test_malformed_headers_are_invalid() -> None:
    good = sign(BODY, SECRET)
    for header in ["sha256=", "sha256=zz", good.upper(), good[:-1], good + "0", "sha256=é" + good[8:]]:
        assert verify(BODY, header, [SECRET]) == Verdict.INVALID, header


def test_nothing_is_valid_without_a_secret() -> None:
    assert verify(BODY, sign(BODY, b""), []) == Verdict.INVALID
