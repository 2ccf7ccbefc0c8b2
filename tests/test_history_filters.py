import math
import re
import time

import pytest

from reports.forms import HistoryFilters
from tests.reports_support import KEYS, Clock, run_job

NOW = 1_750_000_000.0
DAY = 86400


def filters(**params: str) -> HistoryFilters:
    return HistoryFilters(params, now=NOW, retention_days=15)


def test_empty_parameters_ask_for_the_retention_period_and_the_first_page():
    form = filters(start="", page=" ", per_page="")

    assert form.is_valid(), form.errors
    query = form.query()
    assert (query.start, query.end) == (NOW - 15 * DAY, math.inf)
    assert (query.page, query.per_page) == (1, 100)
    assert (query.account, query.pool, query.status) == ("", "", "")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"start": "x", "end": "y"}, "end: use an ISO date"),
        ({"start": "-1d", "end": "-2d", "status": "lost"}, "start: must be before end"),
        ({"status": "lost", "account": "a" * 101}, "status: must be one of"),
        ({"pool": "p" * 101, "page": "0"}, "pool: at most 100 characters"),
        ({"page": "0", "per_page": "501"}, "page: must be a whole number of at least 1"),
    ],
)
def test_several_wrong_parameters_are_answered_with_the_first_checked(params, reason):
    form = filters(**params)

    assert not form.is_valid()
    assert form.reason().startswith(reason)


@pytest.mark.parametrize("page", ["1_0", "+2", " -3", "1.0", "١", "²"])
def test_a_page_is_written_in_ascii_digits_only(page):
    form = filters(page=page)

    assert not form.is_valid()
    assert form.reason() == "page: must be a whole number of at least 1"


def test_text_is_trimmed_and_a_status_read_in_any_case():
    form = filters(account=" alpha ", pool=" scw ", status=" RUNNING ", start=" -7d ")

    assert form.is_valid(), form.errors
    query = form.query()
    assert (query.account, query.pool, query.status) == ("alpha", "scw", "running")
    assert (query.start, query.start_text) == (NOW - 7 * DAY, "-7d")


def test_the_bar_shows_the_query_as_it_was_understood():
    form = filters(start=" -7d ", status="Running", per_page="")
    assert form.is_valid(), form.errors

    bar = HistoryFilters.showing(form.query())

    assert 'name="start" value="-7d"' in str(bar["start"])
    assert '<option value="running" selected>' in str(bar["status"])
    assert str(bar["per_page"]) == (
        '<input type="number" name="per_page" value="100" size="4" min="1" max="500">'
    )
    assert str(bar["end"]) == '<input type="text" name="end" placeholder="now" size="12">'


@pytest.mark.django_db
def test_the_history_page_draws_the_bar_from_the_form(client, deliver, monkeypatch, redis_client):
    run_job(deliver, Clock(monkeypatch), time.time() - 60)

    response = client.get("/history?account=%20alpha%20&status=PENDING")

    html = response.content.decode()
    bar = html[html.index('<form class="filters"') : html.index("</form>")]
    assert response.status_code == 200
    assert [label.split("<")[0].strip() for label in re.findall(r"<label>([^<]*<)", bar)] == [
        "From", "To", "Account", "Pool", "Status", "Per page"
    ]  # fmt: skip
    assert 'name="account" value="alpha" placeholder="login or id" list="accounts"' in bar
    assert '<option value="pending" selected>' in bar
    assert 'name="page"' not in bar  # new filters start at the first page
    assert " id=" not in bar.replace('datalist id="', "") and "style=" not in bar
    assert redis_client.zcard(KEYS.history) == 1
