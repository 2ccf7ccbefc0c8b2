"""The Redis keys, and a key as the pattern a Lua script formats."""
from webhooks.keys import Keys

KEYS = Keys("prod")


def test_a_pattern_has_a_placeholder_for_each_argument_of_its_key() -> None:
    assert KEYS.pattern(KEYS.job) == "prod:job:%s"
    assert KEYS.pattern(KEYS.pool_jobs) == "prod:pool:%s:%s:jobs"


def test_a_pattern_formatted_with_the_arguments_is_the_key() -> None:
    pattern = KEYS.pattern(KEYS.pool_workers)

    assert pattern % (7, "scw-em-rv1") == KEYS.pool_workers(7, "scw-em-rv1")
