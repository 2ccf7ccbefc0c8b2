from django.apps import AppConfig


class RunnersConfig(AppConfig):
    name = "runners"
    verbose_name = "Runner supply"
    default_auto_field = "django.db.models.BigAutoField"
