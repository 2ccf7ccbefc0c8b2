"""The maintainers' pages: /usage, /history (HTML or JSON) and /metrics."""
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from reports import cache, chart, history
from reports import metrics as metrics_exposition
from reports import usage as usage_report
from reports.forms import HistoryFilters
from webhooks import reads

log = logging.getLogger(__name__)

Page = Callable[..., HttpResponse]

# /usage redraws its live part this often, in the browser, from /usage?fragment=live.
REFRESH_SECONDS = 5


def report_page(view: Page) -> Page:
    """GET only, never cached by browsers or proxies (what a viewer sees depends on who they
    are), behind the admin login when REPORTS_REQUIRE_LOGIN is on, and a 503 when Redis is
    down. Anonymous viewers share a drawing of each page for REPORT_CACHE_SECONDS."""

    @require_GET
    @never_cache
    @vary_on_headers("Accept", "Cookie")
    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.REPORTS_REQUIRE_LOGIN and not _is_staff(request):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        key = None
        if settings.REPORT_CACHE_SECONDS and not request.user.is_authenticated:
            wants_json = _wants_json(request, kwargs.get("as_json", False))
            key = (request.path, request.META.get("QUERY_STRING", ""), str(wants_json))
            cached = cache.get(key)
            if cached is not None:
                return _from_cache(cached)
        try:
            response = view(request, *args, **kwargs)
        except reads.StoreUnavailable:
            log.error("reports.unavailable path=%s", request.path)
            if _wants_json(request, kwargs.get("as_json", False)):
                return JsonResponse({"error": "redis unavailable"}, status=503)
            return render(request, "reports/unavailable.html", status=503)
        if key is not None and response.status_code == 200:
            cache.put(key, _cached(response), settings.REPORT_CACHE_SECONDS)
        return response

    return page


def _cached(response: HttpResponse) -> cache.CachedPage:
    headers = tuple((name, response[name]) for name in ("Link",) if response.has_header(name))
    return cache.CachedPage(response.status_code, response.content, response["Content-Type"], headers)


def _from_cache(page: cache.CachedPage) -> HttpResponse:
    response = HttpResponse(page.content, status=page.status, content_type=page.content_type)
    for name, value in page.headers:
        response[name] = value
    return response


@report_page
def usage(request: HttpRequest, as_json: bool = False) -> HttpResponse:
    report = usage_report.build_usage(show_private=_is_staff(request))
    if _wants_json(request, as_json):
        return JsonResponse(report.as_json())
    context = {"report": report, "refresh_seconds": REFRESH_SECONDS, "section": "usage"}
    if request.GET.get("fragment") == "live":
        return render(request, "reports/_usage_live.html", context)
    return render(request, "reports/usage.html", context)


@report_page
def history_page(request: HttpRequest, as_json: bool = False) -> HttpResponse:
    wants_json = _wants_json(request, as_json)
    filters = HistoryFilters(request.GET)
    if not filters.is_valid():
        if wants_json:
            return JsonResponse({"error": filters.reason()}, status=400)
        context = {"reason": filters.reason(), "section": "history"}
        return render(request, "reports/bad_request.html", context, status=400)
    report = history.build_history(filters.query(), show_private=_is_staff(request))
    if wants_json:
        response = JsonResponse(report.as_json())
        if report.page_links():
            response["Link"] = _link_header(request, report)
        return response
    context = {
        "section": "history",
        "report": report,
        "filters": HistoryFilters.showing(report.query),
        "chart": chart.stacked_bars(report.days, report.series, report.day_counts),
        "links": {
            rel: _page_url(request, report, page) for rel, page in report.page_links().items()
        },
        "scan_limit": history.SCAN_LIMIT,
    }
    return render(request, "reports/history.html", context)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    try:
        body = metrics_exposition.exposition()
    except reads.StoreUnavailable:
        return HttpResponse("redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def _wants_json(request: HttpRequest, as_json: bool) -> bool:
    if as_json or request.GET.get("format") == "json":
        return True
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _page_url(request: HttpRequest, report: history.HistoryReport, page: int) -> str:
    return f"{request.path}?{urlencode(report.query.params(page))}"


def _link_header(request: HttpRequest, report: history.HistoryReport) -> str:
    """`<url>; rel="next", …` as GitHub's API pages, keeping ?format=json when it was given."""
    links = []
    for rel, page in report.page_links().items():
        params = report.query.params(page)
        if request.GET.get("format") == "json":
            params["format"] = "json"
        links.append(
            f'<{request.build_absolute_uri(request.path)}?{urlencode(params)}>; rel="{rel}"'
        )
    return ", ".join(links)
