"""Kubernetes, as the scheduler needs it: runner pods and their secrets in one namespace.

A thin adapter over the official client. Configuration comes from `KUBECONFIG` (or
~/.kube/config) or, inside the cluster, from the pod's service account. Every call has a
timeout; errors come out as the few kinds the scheduler tells apart.
"""
import json
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import urllib3
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from runners.decision import Pod
from runners.pods import RUNNER_CONTAINER

log = logging.getLogger(__name__)

LIST_PAGE = 500


class KubernetesError(Exception):
    """A call the API server refused or did not answer; `status` 0 means no answer."""

    def __init__(self, what: str, status: int = 0) -> None:
        super().__init__(f"{what}: {status or 'no answer'}")
        self.status = status


def api_client() -> k8s.ApiClient:
    """An API client from KUBECONFIG when set (or a kubeconfig file exists), else in-cluster."""
    configuration = k8s.Configuration()
    # The client reads KUBECONFIG once, when it is imported; read it now instead.
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if os.path.exists(kubeconfig.split(os.pathsep)[0]):
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    # No silent retries: a failed call goes back to the scheduler, which decides again.
    configuration.retries = False
    return k8s.ApiClient(configuration)


class Cluster:
    """The runner namespace."""

    def __init__(self, api: k8s.ApiClient | None = None, namespace: str | None = None) -> None:
        self.core = k8s.CoreV1Api(api or api_client())
        self.namespace = namespace or settings.RUNNER_NAMESPACE
        self.timeout = settings.SCHEDULER_API_TIMEOUT_SECONDS

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            raise KubernetesError(what, exc.status or 0) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("kubernetes.unanswered what=%s kind=%s", what, type(exc).__name__)
            raise KubernetesError(what) from None

    def pods(self, selector: str) -> dict[str, Pod]:
        """Every pod of the namespace that the selector picks, by name."""
        items = self._list("list_pods", self.core.list_namespaced_pod, selector)
        return {item["metadata"]["name"]: _pod(item) for item in items}

    def secrets(self, selector: str) -> frozenset[str]:
        items = self._list("list_secrets", self.core.list_namespaced_secret, selector)
        return frozenset(item["metadata"]["name"] for item in items)

    def _list(self, what: str, call: Any, selector: str) -> list[dict[str, Any]]:
        """The items of a list, page by page, as plain JSON: turning thousands of pods into the
        client's models costs more than the rest of a pass together."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = {"_continue": token} if token else {}
            response = self._call(
                what, call, self.namespace, label_selector=selector, limit=LIST_PAGE,
                _preload_content=False, **page,
            )  # fmt: skip
            try:
                listing = json.loads(response.data)
            except ValueError:
                raise KubernetesError(what, response.status) from None
            items.extend(listing.get("items") or [])
            token = (listing.get("metadata") or {}).get("continue")
            if not token:
                return items

    def create_pod(self, manifest: Mapping[str, Any]) -> str:
        """Create the pod; its uid. A pod of that name made earlier (a lost reply) is read back."""
        name = manifest["metadata"]["name"]
        try:
            pod = self._call("create_pod", self.core.create_namespaced_pod, self.namespace, manifest)
        except KubernetesError as exc:
            if exc.status != 409:
                raise
            pod = self._call("read_pod", self.core.read_namespaced_pod, name, self.namespace)
        return pod.metadata.uid

    def create_secret(self, manifest: Mapping[str, Any]) -> None:
        """Create the secret; one of that name made earlier (a lost reply) is left as it is."""
        try:
            self._call("create_secret", self.core.create_namespaced_secret, self.namespace, manifest)
        except KubernetesError as exc:
            if exc.status != 409:
                raise

    def delete_pod(self, name: str) -> bool:
        """Delete the pod (its secret goes with it); False when it was gone already."""
        return self._delete("delete_pod", self.core.delete_namespaced_pod, name)

    def delete_secret(self, name: str) -> bool:
        return self._delete("delete_secret", self.core.delete_namespaced_secret, name)

    def _delete(self, what: str, call: Any, name: str) -> bool:
        try:
            self._call(what, call, name, self.namespace, body=k8s.V1DeleteOptions(grace_period_seconds=0))
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def log_tail(self, name: str, lines: int) -> str:
        """The last lines of the runner container's log ('' when there is none to read)."""
        try:
            return self._call(
                "pod_log",
                self.core.read_namespaced_pod_log,
                name,
                self.namespace,
                container=RUNNER_CONTAINER,
                tail_lines=lines,
            )
        except KubernetesError:
            return ""


def _pod(item: Mapping[str, Any]) -> Pod:
    """A pod as the API lists it (JSON), reduced to what the decision needs."""
    status = item.get("status") or {}
    phase = status.get("phase") or "Unknown"
    reason = status.get("reason") or ""
    exit_code = None
    for container in status.get("containerStatuses") or ():
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason") and not reason:
            reason = waiting["reason"]
        if terminated and container.get("name") == RUNNER_CONTAINER:
            exit_code = terminated.get("exitCode")
            reason = reason or terminated.get("reason") or ""
            # A template's sidecar keeps the pod Running after the runner is done with its one
            # job (restartPolicy Never): the runner's own end is the pod's.
            if phase in ("Pending", "Running"):
                phase = "Succeeded" if exit_code == 0 else "Failed"
    return Pod(
        name=item["metadata"]["name"],
        phase=phase,
        created_at=_timestamp(item["metadata"].get("creationTimestamp")),
        reason=reason,
        exit_code=exit_code,
    )


def _timestamp(value: str | None) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else 0.0
    except ValueError:
        return 0.0
