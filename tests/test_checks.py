from typing import Any

import pytest

from runnerhub.checks import check_configuration


def ids(settings: Any) -> list[str]:
    return [problem.id for problem in check_configuration()]


@pytest.mark.parametrize("seconds", [10, 30])
def test_a_staging_timeout_github_would_outlast_is_an_error(settings: Any, seconds: int) -> None:
    settings.STAGING_TIMEOUT_SECONDS = seconds

    [problem] = [p for p in check_configuration() if p.id == "runnerhub.E005"]

    assert problem.is_serious()
    assert f"STAGING_TIMEOUT_SECONDS is {seconds}" in problem.msg


@pytest.mark.parametrize("seconds", [1, 8, 9])
def test_a_staging_timeout_under_githubs_passes(settings: Any, seconds: int) -> None:
    settings.STAGING_TIMEOUT_SECONDS = seconds

    assert "runnerhub.E005" not in ids(settings)
