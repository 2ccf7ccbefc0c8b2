from django.contrib import admin
from django.urls import include, path

from runnerhub.health import health
from webhooks.views import webhook

admin.site.site_header = "RunnerHub administration"
admin.site.site_title = "RunnerHub"
admin.site.index_title = "Label mappings and accounts"

urlpatterns = [
    path("", webhook, name="webhook"),
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("reports.urls")),
]
