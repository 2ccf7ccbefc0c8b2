from django.urls import path

from reports import views

urlpatterns = [
    path("usage", views.usage, name="usage"),
    path("usage.json", views.usage, {"as_json": True}, name="usage-json"),
    path("history", views.history_page, name="history"),
    path("history.json", views.history_page, {"as_json": True}, name="history-json"),
    path("metrics", views.metrics, name="metrics"),
]
