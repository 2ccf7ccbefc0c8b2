"""Response headers that Django 5.2 has no setting for."""
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Send settings.CONTENT_SECURITY_POLICY with every HTML page that has none of its own.

    The pages show repository and job names that came from payloads; they are escaped, and
    the policy is the second line: no inline script, no script from anywhere but RunnerHub.
    Other responses (the webhook's text, JSON, metrics, static files) are not rendered as
    documents, so they need none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", policy)
        return response
