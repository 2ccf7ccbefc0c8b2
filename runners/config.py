"""What the scheduler needs configured before it starts; the web tier needs none of it."""
import os

from django.conf import settings

REQUIRED = ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY")


def missing_settings() -> str:
    """'' when the scheduler can start, else a message naming what is missing or wrong."""
    missing = [name for name in REQUIRED if not getattr(settings, name)]
    if missing:
        return (
            f"{' and '.join(missing)} must be set to run the scheduler "
            "(GITHUB_APP_PRIVATE_KEY_FILE may name a file holding the PEM key)."
        )
    if not str(settings.GITHUB_APP_ID).isdigit():
        return f"GITHUB_APP_ID must be the GitHub App's numeric id, not {settings.GITHUB_APP_ID!r}."
    if "PRIVATE KEY-----" not in settings.GITHUB_APP_PRIVATE_KEY:
        return "GITHUB_APP_PRIVATE_KEY must be the GitHub App's private key in PEM form."
    kubeconfig = os.environ.get("KUBECONFIG", "")
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if kubeconfig and not all(os.path.exists(path) for path in kubeconfig.split(os.pathsep)):
        return f"KUBECONFIG names a file that does not exist: {kubeconfig}"
    if not kubeconfig and not in_cluster and not os.path.exists(os.path.expanduser("~/.kube/config")):
        return (
            "No Kubernetes configuration: set KUBECONFIG, or run the scheduler in the cluster "
            "with a service account."
        )
    return ""
