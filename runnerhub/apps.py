from django.apps import AppConfig


class RunnerHubConfig(AppConfig):
    name = "runnerhub"
    verbose_name = "RunnerHub"

    def ready(self) -> None:
        from runnerhub import checks  # noqa: F401  (registers the configuration checks)
