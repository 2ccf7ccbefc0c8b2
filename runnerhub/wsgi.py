"""WSGI entry point: `gunicorn runnerhub.wsgi`.

Configuration errors stop the server here, at start-up, rather than turning into 500s later.
Deliveries (`POST /`) take the fast path in webhooks/wsgi.py; everything else is Django's,
at most PAGE_CONCURRENCY requests at a time per process (runnerhub/capacity.py), so that the
pages can never take the threads the deliveries need.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "runnerhub.settings")

django_application = get_wsgi_application()

from runnerhub.capacity import PageLimit  # noqa: E402
from runnerhub.checks import fail_on_configuration_errors  # noqa: E402  (needs the apps loaded)
from webhooks.wsgi import DeliveryFastPath  # noqa: E402

fail_on_configuration_errors()

application = DeliveryFastPath(PageLimit(django_application))
