"""Response headers that Django 5.2 has no setting for, and the probes that answer any host."""
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


class ProbesMiddleware:
    """Answer /health and /metrics whatever the Host header says.

    Kubernetes probes and Prometheus reach a pod by its address (`Host: 10.1.2.3:8080`), which
    ALLOWED_HOSTS rightly refuses for every other page: validating it here would keep a
    deployment from ever becoming ready. Neither answer depends on the host. Placed right after
    SecurityMiddleware (which exempts both from the HTTPS redirect), before anything that
    reads the host.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        from reports.views import metrics
        from runnerhub.health import health

        self.views: dict[str, Callable[[HttpRequest], HttpResponse]] = {
            "/health": health,
            "/metrics": metrics,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        response = view(request)
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response
