"""A strict fake Kubernetes API server (core v1 pods, secrets, events, pods/log) for tests.

The scheduler talks to it with the real `kubernetes` client over loopback HTTP; only the URL and
the bearer token differ from production. So the fake speaks the real wire format (objects,
lists, `Status` errors with the real reasons and codes) and is stricter than convenient:

- every request body is validated against the JSON schema of `KUBERNETES_SCHEMA_VERSION` with
  `kubernetes_validate.validate(…, strict=True)` (unknown fields are errors), plus the API-server
  rules the schema cannot express (names, label syntax, a container image, base64 secret data …);
- list items carry no `kind`/`apiVersion`, as in a real list; a pod's log cannot be read while
  its container is waiting to start;
- the objects the fake itself produces (a pod's status, events) are validated the same way, so
  a test cannot drive the client with a shape no cluster would send.

Deliberately not emulated: watches, updates and patches, graceful deletion (a deleted pod is
gone at once), admission (quotas, limit ranges, service accounts), other resources. They answer
404 as a `Status`, and are recorded in `used`, so a role that the code needs shows up.

Status codes follow the API server: 400 `BadRequest` for a body that cannot be decoded as the
endpoint's kind (bad JSON, wrong kind/apiVersion, invalid base64), 422 `Invalid` for a decoded
object that fails validation, 404 `NotFound`, 409 `AlreadyExists`/`Conflict`, 401 `Unauthorized`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import functools
import hmac
import http.server
import itertools
import json
import re
import secrets as secrets_module
import shutil
import tempfile
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import kubernetes
import kubernetes_validate
import referencing
import yaml
from kubernetes_validate.utils import schema_contents

from harness.fake_holds import Holds

# The cluster version whose schema every body is checked against; the deploy manifests' tests
# import it so that the fake and the manifests cannot drift to different clusters.
KUBERNETES_SCHEMA_VERSION = "1.37.0"

# RBAC verbs by HTTP method, for an item and for a collection (None: not an RBAC request).
_ITEM_VERBS = {"GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_COLLECTION_VERBS = {"GET": "list", "HEAD": "list", "POST": "create", "DELETE": "deletecollection"}

# Resource → (kind, list kind). Only these are served; any other resource answers 404.
_KINDS = {"pods": "Pod", "secrets": "Secret", "events": "Event"}

# The API server's own regexes (k8s.io/apimachinery/pkg/util/validation).
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_VALUE_RULE = (
    "a valid label must be an empty string or at most 63 characters of alphanumerics, '-', '_' "
    "or '.', starting and ending with an alphanumeric"
)
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?")
# A pod's name is its hostname and, here, a label value: hold it to 63 characters although the
# API server allows a 253-character subdomain, so a name that would be truncated fails early.
_POD_NAME_MAX = 63

_DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
FAKE_NODE = "fake-node-0"


class ApiError(Exception):
    """An answer as a Kubernetes `Status`; raised anywhere in a request's handling."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _DEFAULT_REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


# An HTTP answer: code, content type, body, extra headers.
_Answer = tuple[int, str, bytes, dict[str, str]]


def _status_answer(error: ApiError) -> _Answer:
    return error.code, "application/json", json.dumps(error.status()).encode(), error.headers


def _not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, f'{resource} "{name}" not found', "NotFound", {"name": name, "kind": resource})


def _invalid(kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 as the API server words it: `Pod "x" is invalid: spec.containers[0].image: Required value`."""
    summary = "; ".join(f"{field}: {message}" if field else message for field, message in causes)
    return ApiError(
        422,
        f'{kind} "{name}" is invalid: {summary}',
        "Invalid",
        {
            "name": name,
            "kind": kind.lower() + "s",
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )


def _now() -> str:
    """RFC 3339 in UTC with second precision, as the API server writes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field_path(path: Iterator[Any]) -> str:
    """jsonschema's path (`spec`, `containers`, 0) as the API server's (`spec.containers[0]`)."""
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


# --- schema validation -------------------------------------------------------------------------


def validate_schema(body: dict[str, Any]) -> None:
    """Check `body` (with kind and apiVersion) against the pinned schema in strict mode.

    Raises `ApiError` 422 naming the first offending field. DeleteOptions is validated from its
    schema file directly: kubernetes-validate derives the file name from apiVersion, and maps
    DeleteOptions' `v1` to a file that does not exist (its file is `deleteoptions-meta-v1`).
    """
    kind = body.get("kind", "")
    try:
        if kind == "DeleteOptions":
            _validator("deleteoptions-meta-v1.json").validate(body)
        elif kind in _KINDS.values() and body.get("apiVersion") == "v1":
            # The same strict schema files as kubernetes_validate.validate, with the 1.8 MB
            # definitions parsed once rather than per request (~30 ms each).
            _validator(f"{kind.lower()}-v1.json").validate(body)
        else:
            kubernetes_validate.validate(body, KUBERNETES_SCHEMA_VERSION, strict=True)
    except jsonschema.ValidationError as error:  # kubernetes_validate.ValidationError subclasses it
        field = _field_path(iter(error.absolute_path))
        raise _invalid(kind, _name_of(body), [(field, error.message)]) from None
    except kubernetes_validate.SchemaNotFoundError as error:
        raise ApiError(400, error.message) from None


def self_check(obj: dict[str, Any]) -> None:
    """Validate a core/v1 object the fake itself produced (a pod with its status, an event).

    A failure is the fake's bug, not the client's, so it raises AssertionError. A cached validator
    over the same strict schema files: kubernetes_validate.validate parses the 1.8 MB definitions
    file on every call (~30 ms), and the fake checks its own output after every change.
    """
    try:
        _validator(f"{obj['kind'].lower()}-v1.json").validate(obj)
    except jsonschema.ValidationError as error:
        raise AssertionError(
            f"the fake produced a {obj['kind']} no cluster would send: "
            f"{_field_path(iter(error.absolute_path))}: {error.message}"
        ) from None


def _name_of(body: dict[str, Any]) -> str:
    metadata = body.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""


@functools.cache
def _validator(filename: str) -> jsonschema.Draft202012Validator:
    """A strict schema of the pinned version, wired as kubernetes_validate.validate wires it."""
    directory = f"kubernetes-json-schema/v{KUBERNETES_SCHEMA_VERSION}-local-strict"
    schema = schema_contents(f"{directory}/{filename}", KUBERNETES_SCHEMA_VERSION)
    definitions = schema_contents(f"{directory}/_definitions.json", KUBERNETES_SCHEMA_VERSION)
    registry = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --- API-server rules the schema does not express ----------------------------------------------


def _check_name(kind: str, name: Any, max_length: int) -> list[tuple[str, str]]:
    if not name:
        return [("metadata.name", "Required value: name or generateName is required")]
    if len(name) > max_length:
        return [("metadata.name", f"Invalid value: {name!r}: must be no more than {max_length} characters")]
    if not _DNS1123_SUBDOMAIN.fullmatch(name):
        return [
            (
                "metadata.name",
                f"Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )
        ]
    return []


def _check_qualified_name(field: str, key: str) -> list[tuple[str, str]]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problems.append((field, f"Invalid value: {key!r}: prefix part must be a DNS-1123 subdomain"))
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        problems.append(
            (field, f"Invalid value: {key!r}: name part must be at most 63 characters of "
                    "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric")
        )
    return problems


def _check_metadata(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for key, value in (metadata.get("labels") or {}).items():
        problems += _check_qualified_name("metadata.labels", key)
        if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            problems.append(("metadata.labels", f"Invalid value: {value!r}: {_LABEL_VALUE_RULE}"))
    for key in metadata.get("annotations") or {}:
        problems += _check_qualified_name("metadata.annotations", key)
    controllers = 0
    for index, owner in enumerate(metadata.get("ownerReferences") or []):
        if not owner.get("uid"):
            field = f"metadata.ownerReferences[{index}].uid"
            problems.append((field, 'Invalid value: "": uid must not be empty'))
        controllers += bool(owner.get("controller"))
    if controllers > 1:
        problems.append(
            ("metadata.ownerReferences", "Invalid value: only one reference can have Controller set to true")
        )
    return problems


def _check_pod_spec(spec: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    containers = spec.get("containers") or []
    if not containers:
        problems.append(("spec.containers", "Required value"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            field = f"spec.{group}[{index}]"
            name = container.get("name", "")
            if not _DNS1123_LABEL.fullmatch(name) or len(name) > 63:
                problems.append((f"{field}.name", f"Invalid value: {name!r}: must be a DNS-1123 label"))
            elif name in seen:
                problems.append((f"{field}.name", f"Duplicate value: {name!r}"))
            seen.add(name)
            if not container.get("image", "").strip():
                problems.append((f"{field}.image", "Required value"))
            problems += _check_env(field, container.get("env") or [])
            problems += _check_resources(field, container.get("resources") or {})
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        problems.append(("spec.restartPolicy", f"Unsupported value: {spec['restartPolicy']!r}"))
    if "activeDeadlineSeconds" in spec and spec["activeDeadlineSeconds"] <= 0:
        problems.append(("spec.activeDeadlineSeconds", "Invalid value: must be greater than 0"))
    for key, value in (spec.get("nodeSelector") or {}).items():
        problems += _check_qualified_name("spec.nodeSelector", key)
        if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            problems.append(("spec.nodeSelector", f"Invalid value: {value!r}: {_LABEL_VALUE_RULE}"))
    return problems


def _check_env(field: str, env: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems = []
    for index, variable in enumerate(env):
        where = f"{field}.env[{index}]"
        if not variable.get("name") or "=" in variable["name"]:
            problems.append((f"{where}.name", f"Invalid value: {variable.get('name', '')!r}"))
        source = variable.get("valueFrom")
        if source is None:
            continue
        if variable.get("value"):
            problems.append((f"{where}.valueFrom", "Invalid value: may not be set when `value` is not empty"))
        if len(source) != 1:
            problems.append((f"{where}.valueFrom", "Invalid value: may not have more than one field set at a time"))
        for ref in ("secretKeyRef", "configMapKeyRef"):
            if ref in source:
                selector = source[ref]
                if not selector.get("name"):
                    problems.append((f"{where}.valueFrom.{ref}.name", "Required value"))
                key = selector.get("key", "")
                if not _SECRET_KEY.fullmatch(key):
                    problems.append((f"{where}.valueFrom.{ref}.key", f"Invalid value: {key!r}"))
    return problems


def _check_resources(field: str, resources: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for section in ("requests", "limits"):
        for resource, quantity in (resources.get(section) or {}).items():
            if not _QUANTITY.fullmatch(str(quantity)):
                problems.append(
                    (f"{field}.resources.{section}[{resource}]",
                     f"Invalid value: {quantity!r}: quantities must match the regular expression "
                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
                )
    return problems


def _decode_secret_data(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Data keys the API server accepts; base64 itself is checked while decoding (400)."""
    problems = []
    for key in data:
        if len(key) > 253 or not _SECRET_KEY.fullmatch(key):
            problems.append((f"data[{key}]", f"Invalid value: {key!r}: a valid config key must consist of "
                             "alphanumeric characters, '-', '_' or '.'"))
    return problems


# --- selectors ---------------------------------------------------------------------------------


def _split_requirements(selector: str) -> list[str]:
    """Split on commas outside the parentheses of `in (a,b)`."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


_SET_REQUIREMENT = re.compile(r"(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)")
_EQUALITY_REQUIREMENT = re.compile(r"(?P<key>[^\s!=()]+)\s*(?P<op>==|!=|=)\s*(?P<value>[^\s!=(),]*)")
_EXISTS_REQUIREMENT = re.compile(r"(?P<not>!?)\s*(?P<key>[^\s!=(),]+)")


def label_matcher(selector: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over labels for a label selector (`a=b,c!=d,e,!f,g in (h,i)`); 400 if unparsable."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for requirement in _split_requirements(selector):
        if match := _SET_REQUIREMENT.fullmatch(requirement):
            key, values = match["key"], {v.strip() for v in match["values"].split(",")}
            if match["op"] == "in":
                tests.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                tests.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif match := _EQUALITY_REQUIREMENT.fullmatch(requirement):
            key, value = match["key"], match["value"]
            if match["op"] == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif match := _EXISTS_REQUIREMENT.fullmatch(requirement):
            key, negated = match["key"], bool(match["not"])
            tests.append(lambda labels, k=key, n=negated: (k in labels) != n)
        else:
            raise ApiError(400, f"unable to parse requirement: {requirement!r}")
        if problems := _check_qualified_name("labelSelector", match["key"]):
            raise ApiError(400, f"unable to parse requirement: {problems[0][1]}")
    return lambda labels: all(test(labels) for test in tests)


# Field selectors the API server supports for each resource, and how to read them.
_FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], str]]] = {
    "pods": {
        "status.phase": lambda o: o.get("status", {}).get("phase", ""),
        "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
        "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
    },
    "secrets": {"type": lambda o: o.get("type", "")},
    "events": {
        **{
            f"involvedObject.{field}": (lambda o, f=field: str(o.get("involvedObject", {}).get(f, "")))
            for field in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
        },
        "reason": lambda o: o.get("reason", ""),
        "type": lambda o: o.get("type", ""),
        "source": lambda o: o.get("source", {}).get("component", ""),
        "reportingComponent": lambda o: o.get("reportingComponent", ""),
    },
}


def field_matcher(resource: str, selector: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for a field selector (`metadata.name=x,status.phase!=Running`); 400 as the API
    server answers for a field it does not index: `field label not supported: …`."""
    getters = {
        "metadata.name": lambda o: o["metadata"]["name"],
        "metadata.namespace": lambda o: o["metadata"]["namespace"],
        **_FIELDS[resource],
    }
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for requirement in _split_requirements(selector):
        match = re.fullmatch(r"(?P<field>[^!=]+?)\s*(?P<op>==|!=|=)\s*(?P<value>.*)", requirement)
        if match is None:
            raise ApiError(400, f"invalid selector: '{selector}'; can't understand '{requirement}'")
        getter = getters.get(match["field"])
        if getter is None:
            raise ApiError(400, f'field label not supported: {match["field"]}')
        value, negated = match["value"], match["op"] == "!="
        tests.append(lambda o, g=getter, v=value, n=negated: (g(o) == v) != n)
    return lambda obj: all(test(obj) for test in tests)


# --- the server --------------------------------------------------------------------------------


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    error: ApiError
    remaining: int
    after: bool


_ROUTE = re.compile(
    r"/api/v1(?:/namespaces/(?P<namespace>[^/]+))?/(?P<resource>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?"
)
_GROUP_ROUTE = re.compile(
    r"/apis/[^/]+/[^/]+(?:/namespaces/(?P<namespace>[^/]+))?/(?P<resource>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?"
)


class FakeKubernetes:
    """A core-v1 API server on 127.0.0.1 for the real `kubernetes` client; see the module docstring.

    Wiring: `start()`/`stop()` or `with`, `url`, `token`, `write_kubeconfig(path)`, `api_client()`.
    Reading state: `pods()`, `pod()`, `secrets()`, `secret()`, `events()` (deep copies, with kind).
    Driving the cluster: `set_phase`, `set_waiting`, `set_log`, `add_event`,
    `delete_pod_out_of_band`, `collect_garbage`, and `fail` to inject faults.
    Recording: `used` (RBAC verb, resource), `requests` (method, path, query), `namespaces`,
    `errors` (the fake's own bugs, raised by `stop()`).

    State is held in memory under one lock; the test controls take it too, so tests may call
    them while a client is mid-request on another thread.
    """

    def __init__(self) -> None:
        self.token = secrets_module.token_urlsafe(32)
        # (verb, resource) in RBAC terms for every authenticated request, served or not.
        self.used: set[tuple[str, str]] = set()
        # (method, path, query) of every request, in arrival order.
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.namespaces: set[str] = set()
        # Tracebacks of the fake's own bugs; `stop()` raises if there are any.
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in _KINDS}
        self._logs: dict[tuple[str, str, str], str] = {}
        self._faults: list[_Fault] = []
        # Requests held at a step, for tests that kill the client there (see harness.fake_holds).
        self.holds = Holds()
        self._resource_version = itertools.count(1000)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._directory: Path | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        """Listen on a free loopback port and serve from a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, and tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-kubernetes", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, check: bool = True) -> None:
        """Stop serving; with `check`, raise AssertionError if a request hit a bug of the fake."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
        if check and self.errors:
            raise AssertionError("the fake Kubernetes API failed on its own:\n" + "\n".join(self.errors))

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Don't hide a test's own failure behind the fake's.
        self.stop(check=exc_type is None)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig whose current context reaches this server with its token."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def api_client(self) -> kubernetes.client.ApiClient:
        """A real client configured from a kubeconfig, exactly as production configures one."""
        with self._lock:  # written once: threads that each build a client must not read it half-written
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="fake-kubernetes-"))
                self.write_kubeconfig(self._directory / "kubeconfig")
            path = self._directory / "kubeconfig"
        return kubernetes.config.new_client_from_config(config_file=str(path))

    # --- test controls ---------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._all("pods", namespace)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._one("pods", namespace, name)

    def secrets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._all("secrets", namespace)

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._one("secrets", namespace, name)

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._all("events", namespace)

    def set_phase(
        self,
        namespace: str,
        name: str,
        phase: str,
        *,
        exit_code: int | None = None,
        reason: str | None = None,
        message: str | None = None,
        pod_reason: str | None = None,
        pod_message: str | None = None,
    ) -> dict[str, Any]:
        """Move a pod to `phase` as the kubelet would report it, and return the pod.

        Running: every container running and ready, `startTime` set. Succeeded / Failed: every
        container terminated with `exit_code` (0 / 1 by default) and `reason` ("Completed" /
        "Error" by default) and `message`; `pod_reason`/`pod_message` go on the pod's status (as
        `DeadlineExceeded` or `Evicted` do). Pending: back to waiting in ContainerCreating.
        """
        if phase not in _PHASES:
            raise ValueError(f"phase must be one of {_PHASES}, not {phase!r}")
        with self._lock:
            pod = self._require_pod(namespace, name)
            status = pod["status"]
            now = _now()
            status["phase"] = phase
            for key in ("reason", "message"):
                status.pop(key, None)
            if pod_reason is not None:
                status["reason"] = pod_reason
            if pod_message is not None:
                status["message"] = pod_message
            running = phase == "Running"
            if phase in ("Running", "Succeeded", "Failed"):
                status.setdefault("startTime", now)
                status["hostIP"] = status["podIP"] = "10.0.0.2"
                status["hostIPs"] = status["podIPs"] = [{"ip": "10.0.0.2"}]
            for container_status in status["containerStatuses"]:
                container_status["ready"] = container_status["started"] = running
                if running:
                    container_status["state"] = {"running": {"startedAt": now}}
                elif phase in ("Succeeded", "Failed"):
                    code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
                    started = container_status["state"].get("running", {}).get("startedAt", now)
                    terminated = {
                        "exitCode": code,
                        "reason": reason or ("Completed" if code == 0 else "Error"),
                        "startedAt": started,
                        "finishedAt": now,
                        "containerID": f"containerd://{uuid.uuid4().hex}",
                    }
                    if message is not None:
                        terminated["message"] = message
                    container_status["state"] = {"terminated": terminated}
                else:
                    container_status["state"] = {"waiting": {"reason": "ContainerCreating"}}
            for condition in status["conditions"]:
                if condition["type"] in ("Ready", "ContainersReady"):
                    self._set_condition(condition, running, None if running else (
                        "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"))
                if condition["type"] == "PodReadyToStartContainers":
                    self._set_condition(condition, phase != "Pending", None)
            return self._touch("pods", pod)

    def set_waiting(self, namespace: str, name: str, reason: str, message: str = "") -> dict[str, Any]:
        """Hold a pod's containers waiting (ImagePullBackOff, CreateContainerConfigError …); Pending."""
        with self._lock:
            pod = self._require_pod(namespace, name)
            pod["status"]["phase"] = "Pending"
            waiting = {"reason": reason, **({"message": message} if message else {})}
            for container_status in pod["status"]["containerStatuses"]:
                container_status.update(ready=False, started=False, state={"waiting": waiting})
            return self._touch("pods", pod)

    def set_log(self, namespace: str, name: str, text: str, container: str | None = None) -> None:
        """The log `GET …/pods/{name}/log` answers for `container` (default: the first)."""
        with self._lock:
            pod = self._require_pod(namespace, name)
            container = container or pod["spec"]["containers"][0]["name"]
            self._logs[(namespace, name, container)] = text

    def add_event(
        self,
        namespace: str,
        involved_kind: str,
        involved_name: str,
        reason: str,
        message: str,
        type: str = "Warning",
    ) -> dict[str, Any]:
        """Record a core/v1 Event about an object, as the kubelet or scheduler would."""
        with self._lock:
            involved = {"kind": involved_kind, "namespace": namespace, "name": involved_name}
            involved["apiVersion"] = "v1"
            if involved_kind == "Pod" and (pod := self._objects["pods"].get((namespace, involved_name))):
                involved["uid"] = pod["metadata"]["uid"]
            now = _now()
            event = {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {"name": f"{involved_name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type,
                "source": {"component": "kubelet", "host": FAKE_NODE},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "reportingComponent": "kubelet",
                "reportingInstance": FAKE_NODE,
            }
            self_check(event)
            return self._store("events", namespace, event)

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        reason: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next `times` requests matching `method` ("*": any) and `path_regex`
        (searched in the path) with a `Status` of code `status`.

        `after=True` performs the request first and then fails it, as a timeout does after the
        API server has already acted (a retried create then meets 409 AlreadyExists).
        `retry_after` adds a Retry-After header. Note that urllib3, under the client, itself
        retries GET and DELETE answered 429/503 with Retry-After (up to 3 times, sleeping).
        """
        error = ApiError(
            status,
            message or f"injected failure {status}",
            reason,
            headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
        )
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), error, times, after))

    def delete_pod_out_of_band(self, namespace: str, name: str) -> bool:
        """Remove a pod as if its node died and the pod GC removed it; its secrets follow."""
        with self._lock:
            removed = self._objects["pods"].pop((namespace, name), None) is not None
            self.collect_garbage()
            return removed

    def collect_garbage(self) -> list[tuple[str, str]]:
        """Delete every secret whose owners (by uid) are all gone; return their (namespace, name).

        As the garbage collector does: an owner is looked up by uid, so a reference to a uid that
        exists nowhere (a typo, a pod deleted before its secret was created) is also collected.
        """
        with self._lock:
            live = {obj["metadata"]["uid"] for store in self._objects.values() for obj in store.values()}
            collected = []
            for key, secret in list(self._objects["secrets"].items()):
                owners = secret["metadata"].get("ownerReferences") or []
                if owners and not any(owner["uid"] in live for owner in owners):
                    del self._objects["secrets"][key]
                    collected.append(key)
            return collected

    # --- state helpers (call with the lock held) ---------------------------------------------

    def _all(self, resource: str, namespace: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects[resource].items())
                if namespace is None or ns == namespace
            ]

    def _one(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects[resource].get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def _require_pod(self, namespace: str, name: str) -> dict[str, Any]:
        pod = self._objects["pods"].get((namespace, name))
        if pod is None:
            raise LookupError(f"no pod {namespace}/{name}")
        return pod

    @staticmethod
    def _set_condition(condition: dict[str, Any], true: bool, reason: str | None) -> None:
        status = "True" if true else "False"
        if condition["status"] != status:
            condition["lastTransitionTime"] = _now()
        condition["status"] = status
        if reason:
            condition["reason"] = reason
        else:
            condition.pop("reason", None)

    def _touch(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = str(next(self._resource_version))
        self_check(obj)
        return copy.deepcopy(obj)

    def _store(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Add the server-side metadata and keep `obj`; 409 if the name is taken."""
        metadata = obj["metadata"]
        key = (namespace, metadata["name"])
        if key in self._objects[resource]:
            raise ApiError(
                409,
                f'{resource} "{metadata["name"]}" already exists',
                "AlreadyExists",
                {"name": metadata["name"], "kind": resource},
            )
        metadata.update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(next(self._resource_version)),
            creationTimestamp=_now(),
        )
        self._objects[resource][key] = obj
        return copy.deepcopy(obj)

    # --- request handling ------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> _Answer:
        """Answer one HTTP request: (code, content type, body, extra headers). Never raises."""
        split = urlsplit(target)
        path, query = unquote(split.path), parse_qs(split.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((method, path, query))
        try:
            authorization = headers.get("Authorization", "")
            if not hmac.compare_digest(authorization.encode(), f"Bearer {self.token}".encode()):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            route = _ROUTE.fullmatch(path) or _GROUP_ROUTE.fullmatch(path)
            if route is None:
                raise ApiError(404, "the server could not find the requested resource")
            namespace, resource, name, subresource = route.group(
                "namespace", "resource", "name", "subresource"
            )
            rbac_resource = f"{resource}/{subresource}" if subresource else resource
            if name is None:
                verb = _COLLECTION_VERBS.get(method)
                if verb == "list" and query.get("watch", [""])[0] in ("true", "1"):
                    verb = "watch"
            else:
                verb = "create" if method == "POST" else _ITEM_VERBS.get(method)
            with self._lock:
                if verb is not None:
                    self.used.add((verb, rbac_resource))
                if namespace is not None:
                    self.namespaces.add(namespace)
                fault = self._take_fault(method, path)
            if fault is not None and not fault.after:
                raise fault.error
            hold = self.holds.take(method, path)
            if hold is not None and not hold.after and not hold.wait():
                raise ApiError(503, "the request was dropped before it was performed")
            answer = self._serve(verb, resource, subresource, namespace, name, query, headers, body)
            if hold is not None and hold.after:
                hold.wait()
            if fault is not None:
                raise fault.error
            return answer
        except ApiError as error:
            return _status_answer(error)
        except Exception:  # a bug of the fake: record it, answer without the traceback
            with self._lock:
                self.errors.append(f"{method} {target}\n{traceback.format_exc()}")
            return _status_answer(ApiError(500, "the fake Kubernetes API failed; see FakeKubernetes.errors"))

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.path.search(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _serve(
        self,
        verb: str | None,
        resource: str,
        subresource: str | None,
        namespace: str | None,
        name: str | None,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
    ) -> _Answer:
        if resource not in _KINDS or (subresource and (resource, subresource) != ("pods", "log")):
            raise ApiError(404, "the server could not find the requested resource")
        if namespace is None and verb != "list":
            raise ApiError(404, "the server could not find the requested resource")
        dry_run = _dry_run(query)
        if verb == "get" and subresource == "log":
            return 200, "text/plain", self._log(namespace, name, query).encode(), {}
        if verb == "get":
            return self._json(200, self._get(resource, namespace, name))
        if verb == "list":
            return self._json(200, self._list(resource, namespace, query))
        if verb == "create" and name is None and resource in ("pods", "secrets"):
            return self._json(201, self._create(resource, namespace, _parse_body(headers, body), dry_run))
        if verb == "delete" and resource in ("pods", "secrets"):
            options = _parse_body(headers, body) if body.strip() else {}
            return self._json(200, self._delete(resource, namespace, name, options, query, dry_run))
        raise ApiError(404, f"the fake Kubernetes API does not implement {verb or 'that method'} on {resource}")

    @staticmethod
    def _json(code: int, obj: dict[str, Any]) -> _Answer:
        return code, "application/json", json.dumps(obj).encode(), {}

    def _get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects[resource].get((namespace, name))
            if obj is None:
                raise _not_found(resource, name)
            return copy.deepcopy(obj)

    def _list(self, resource: str, namespace: str | None, query: dict[str, list[str]]) -> dict[str, Any]:
        labels = label_matcher(query.get("labelSelector", [""])[0])
        fields = field_matcher(resource, query.get("fieldSelector", [""])[0])
        limit = _int_param(query, "limit", 0)
        after = _decode_continue(query.get("continue", [""])[0])
        with self._lock:
            matching = [
                obj
                for key, obj in sorted(self._objects[resource].items())
                if (namespace is None or key[0] == namespace)
                and key > after
                and labels(obj["metadata"].get("labels") or {})
                and fields(obj)
            ]
            resource_version = str(next(self._resource_version))
        metadata: dict[str, Any] = {"resourceVersion": resource_version}
        if limit and len(matching) > limit:
            last = matching[limit - 1]["metadata"]
            token = json.dumps([last["namespace"], last["name"]]).encode()
            metadata["continue"] = base64.urlsafe_b64encode(token).decode()
            metadata["remainingItemCount"] = len(matching) - limit
            matching = matching[:limit]
        # A list's items carry no kind or apiVersion, as in a real list.
        items = [
            {k: v for k, v in copy.deepcopy(obj).items() if k not in ("kind", "apiVersion")} for obj in matching
        ]
        return {"kind": _KINDS[resource] + "List", "apiVersion": "v1", "metadata": metadata, "items": items}

    def _create(self, resource: str, namespace: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        kind = _KINDS[resource]
        _check_kind(body, kind)
        metadata = body.get("metadata")
        if isinstance(metadata, dict):
            if metadata.get("namespace", namespace) != namespace:
                raise ApiError(
                    400, "the namespace of the provided object does not match the namespace sent on the request"
                )
            if metadata.get("resourceVersion"):
                raise ApiError(400, "resourceVersion should not be set on objects to be created")
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + secrets_module.token_hex(3)[:5]
        if resource == "secrets":
            _decode_secret(body)
        validate_schema(body)
        metadata = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        name = metadata.get("name", "")
        problems = _check_name(kind, name, _POD_NAME_MAX if resource == "pods" else 253)
        problems += _check_metadata(metadata)
        if resource == "pods":
            problems += _check_pod_spec(body.get("spec") or {})
        else:
            problems += _decode_secret_data(body.get("data") or {})
        if problems:
            raise _invalid(kind, name, problems)
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "selfLink"):
            metadata.pop(field, None)
        if resource == "pods":
            _default_pod(body)
        else:
            body.setdefault("type", "Opaque")
        if dry_run:
            return body
        with self._lock:
            stored = self._store(resource, namespace, body)
            self_check(stored)
            return stored

    def _delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        options: dict[str, Any],
        query: dict[str, list[str]],
        dry_run: bool,
    ) -> dict[str, Any]:
        options = {"kind": "DeleteOptions", "apiVersion": "v1", **options}
        if options["kind"] != "DeleteOptions":
            raise ApiError(
                400, f'{options["kind"]} in version "{options["apiVersion"]}" cannot be handled as a DeleteOptions'
            )
        validate_schema(options)
        policy = query.get("propagationPolicy", [options.get("propagationPolicy")])[0]
        problems = []
        if policy not in (None, "Orphan", "Background", "Foreground"):
            problems.append(("propagationPolicy", f"Unsupported value: {policy!r}"))
        if policy is not None and options.get("orphanDependents") is not None:
            problems.append(
                ("propagationPolicy", "Invalid value: orphanDependents and deletionPropagation cannot be both set")
            )
        if options.get("gracePeriodSeconds", 0) < 0:
            problems.append(("gracePeriodSeconds", "Invalid value: must be >= 0"))
        if problems:
            raise _invalid("DeleteOptions", "", problems)
        with self._lock:
            obj = self._objects[resource].get((namespace, name))
            if obj is None:
                raise _not_found(resource, name)
            preconditions = options.get("preconditions") or {}
            for field in ("uid", "resourceVersion"):
                if preconditions.get(field) not in (None, obj["metadata"][field]):
                    raise ApiError(
                        409,
                        f"Precondition failed: {field.upper() if field == 'uid' else field} in precondition: "
                        f"{preconditions[field]}, {field.upper() if field == 'uid' else field} in object meta: "
                        f"{obj['metadata'][field]}",
                        "Conflict",
                        {"name": name, "kind": resource},
                    )
            if dry_run:
                return self._deleted_answer(resource, obj)
            del self._objects[resource][(namespace, name)]
            if policy == "Orphan" or options.get("orphanDependents"):
                uid = obj["metadata"]["uid"]
                for dependent in self._objects["secrets"].values():
                    references = dependent["metadata"].get("ownerReferences") or []
                    if any(ref["uid"] == uid for ref in references):
                        dependent["metadata"]["ownerReferences"] = [r for r in references if r["uid"] != uid]
                        if not dependent["metadata"]["ownerReferences"]:
                            del dependent["metadata"]["ownerReferences"]
            self.collect_garbage()
            return self._deleted_answer(resource, obj)

    @staticmethod
    def _deleted_answer(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A pod answers its last state (pods delete gracefully); a secret a success Status."""
        if resource == "pods":
            answer = copy.deepcopy(obj)
            answer["metadata"]["deletionTimestamp"] = _now()
            answer["metadata"]["deletionGracePeriodSeconds"] = 0
            return answer
        metadata = obj["metadata"]
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": metadata["name"], "kind": resource, "uid": metadata["uid"]},
        }

    def _log(self, namespace: str, name: str, query: dict[str, list[str]]) -> str:
        with self._lock:
            pod = self._objects["pods"].get((namespace, name))
            if pod is None:
                raise _not_found("pods", name)
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container", [""])[0]
            if not container:
                if len(names) > 1:
                    raise ApiError(
                        400, f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                    )
                container = names[0]
            if container not in names:
                raise ApiError(400, f"container {container} is not valid for pod {name}")
            state = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)["state"]
            if "waiting" in state:
                reason = state["waiting"].get("reason", "")
                raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: {reason}')
            text = self._logs.get((namespace, name, container), "")
        tail = _int_param(query, "tailLines", -1)
        if tail >= 0:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[len(lines) - tail:]) if tail else ""
        return text


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [""])[0]
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f'invalid {name} "{raw}": strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _decode_continue(token: str) -> tuple[str, str]:
    if not token:
        return ("", "")
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(namespace), str(name))
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(400, "continue key is not valid: invalid continue token", "BadRequest") from None


def _dry_run(query: dict[str, list[str]]) -> bool:
    values = query.get("dryRun", [])
    if any(value != "All" for value in values):
        raise ApiError(400, f"Invalid dryRun value: {values}; the only valid value is All")
    return bool(values)


def _parse_body(headers: Any, body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; the client sends JSON, with or without a Content-Type
    (the API server then assumes JSON). Anything else is 415 or 400, as the API server answers."""
    content_type = (headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            f"application/json (the fake does not read {content_type})",
        )
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"json: cannot unmarshal the request body: {error}") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, f"json: cannot unmarshal {type(parsed).__name__} into Go value of type struct")
    return parsed


def _check_kind(body: dict[str, Any], kind: str) -> None:
    """Fill a missing kind/apiVersion from the endpoint (the API server does); reject a mismatch."""
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", kind)
    if body["kind"] != kind or body["apiVersion"] != "v1":
        raise ApiError(400, f'{body["kind"]} in version "{body["apiVersion"]}" cannot be handled as a {kind}')


def _decode_secret(body: dict[str, Any]) -> None:
    """Check `data` is base64 and fold `stringData` into it, as the API server stores a Secret."""
    data = body.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, str):
                continue  # the schema names the type error
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise ApiError(
                    400, f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data[{key}]'
                ) from None
    string_data = body.get("stringData")
    if isinstance(string_data, dict) and all(isinstance(v, str) for v in string_data.values()):
        body.pop("stringData")
        merged = dict(data) if isinstance(data, dict) else {}
        merged.update({k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()})
        body["data"] = merged


def _default_pod(pod: dict[str, Any]) -> None:
    """The defaults the API server writes into a pod, and the status of a pod whose containers
    are being created on a node (so a new pod reads as scheduled, Pending, ContainerCreating)."""
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("securityContext", {})
    spec["nodeName"] = spec.get("nodeName") or FAKE_NODE
    for container in spec["containers"] + spec.get("initContainers", []):
        image = container["image"]
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = not tagged or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
    now = _now()
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "False", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", 
             "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        ],
        "hostIP": "10.0.0.2",
        "hostIPs": [{"ip": "10.0.0.2"}],
        "qosClass": _qos_class(spec["containers"]),
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
            for container in spec["containers"]
        ],
    }


def _qos_class(containers: list[dict[str, Any]]) -> str:
    """Guaranteed: every container limits cpu and memory and requests (defaulting to the limits)
    the same; BestEffort: nothing requested or limited; otherwise Burstable."""
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"

    def guaranteed(r: dict[str, Any]) -> bool:
        limits, requests = r.get("limits") or {}, {**(r.get("limits") or {}), **(r.get("requests") or {})}
        return all(k in limits and str(requests[k]) == str(limits[k]) for k in ("cpu", "memory"))

    return "Guaranteed" if all(guaranteed(r) for r in resources) else "Burstable"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads a request, hands it to `FakeKubernetes.handle`, writes the answer. HTTP/1.1 so the
    client's connection pool keeps its connections, as it does against a real API server."""

    fake: FakeKubernetes
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, a kept-alive connection
    # waits out the client's delayed ACK (40 ms) on every answer.
    disable_nagle_algorithm = True
    timeout = 10  # an idle keep-alive connection frees its thread
    server_version = "fake-kubernetes"

    def _answer(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            error = ApiError(400, "the fake Kubernetes API does not read chunked request bodies")
            self._write(*_status_answer(error))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._write(*_status_answer(ApiError(400, "bad Content-Length")))
            return
        body = self.rfile.read(length) if length else b""
        self._write(*self.fake.handle(self.command, self.path, self.headers, body))

    def _write(self, code: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests too are answered as a `Status`, never as the stdlib's HTML page."""
        self.close_connection = True
        try:
            self._write(*_status_answer(ApiError(code, message or "bad request")))
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # `FakeKubernetes.requests` records every request; keep pytest's output clean
