"""POST /: GitHub's webhook deliveries, when Django serves them.

In production `runnerhub.wsgi` answers deliveries on the WSGI fast path (webhooks/wsgi.py)
before Django's middleware; both call `intake.receive`.
"""
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks import intake


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    reply = intake.receive(request.META, request.read)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
