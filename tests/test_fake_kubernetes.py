"""The fake Kubernetes API, driven by the real `kubernetes` client exactly as the scheduler drives it."""

import base64
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.fake_kubernetes import KUBERNETES_SCHEMA_VERSION, FakeKubernetes

NAMESPACE = "runners"
NAME = "runnerhub-prod-abc123def4"


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


@pytest.fixture
def api_client(fake: FakeKubernetes) -> Iterator[client.ApiClient]:
    with fake.api_client() as api_client:
        yield api_client


@pytest.fixture
def api(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def runner_pod(name: str = NAME, worker: str = "worker-1", **labels: str) -> client.V1Pod:
    """The pod the scheduler creates for one job."""
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(
            name=name,
            labels={
                "app.kubernetes.io/managed-by": "runnerhub",
                "runnerhub/env": "prod",
                "runnerhub/entity": "123",
                "runnerhub/pool": "scw-em-rv1",
                "runnerhub/worker": worker,
                **labels,
            },
        ),
        spec=client.V1PodSpec(
            node_selector={"riseproject.dev/board": "scw-em-rv1"},
            restart_policy="Never",
            active_deadline_seconds=6 * 3600,
            automount_service_account_token=False,
            containers=[
                client.V1Container(
                    name="runner",
                    image="ghcr.io/riseproject-dev/runner:2.330.0",
                    env=[
                        client.V1EnvVar(
                            name="ACTIONS_RUNNER_INPUT_JITCONFIG",
                            value_from=client.V1EnvVarSource(
                                secret_key_ref=client.V1SecretKeySelector(name=name, key="jitconfig")
                            ),
                        )
                    ],
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "2", "memory": "4Gi"}, limits={"cpu": "4", "memory": "8Gi"}
                    ),
                )
            ],
        ),
    )


def runner_secret(pod: client.V1Pod) -> client.V1Secret:
    """The secret holding a pod's JIT config, owned by the pod so that it dies with it."""
    return client.V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        metadata=client.V1ObjectMeta(
            name=pod.metadata.name,
            owner_references=[
                client.V1OwnerReference(api_version="v1", kind="Pod", name=pod.metadata.name, uid=pod.metadata.uid)
            ],
        ),
        data={"jitconfig": base64.b64encode(b'{"runner": "config"}').decode()},
    )


def raw(api_client: client.ApiClient, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """A request through the real client's transport, bypassing its models' own validation, as a
    client built from another version of the models could send."""
    request = api_client.param_serialize(method, path, body=body, auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    return response.status, json.loads(response.data)


# --- pods --------------------------------------------------------------------------------------


def test_a_created_pod_round_trips_with_server_fields_and_a_pending_status(
    fake: FakeKubernetes, api: client.CoreV1Api
) -> None:
    created = api.create_namespaced_pod(NAMESPACE, runner_pod())

    assert created.metadata.name == NAME
    assert created.metadata.namespace == NAMESPACE
    assert len(created.metadata.uid) == 36
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.creation_timestamp.tzinfo is not None
    assert created.metadata.labels["runnerhub/entity"] == "123"
    assert created.spec.containers[0].env[0].value_from.secret_key_ref.key == "jitconfig"
    assert created.status.phase == "Pending"
    assert created.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert {c.type for c in created.status.conditions} >= {"PodScheduled", "Ready"}
    stored = fake.pod(NAMESPACE, NAME)
    assert stored is not None and stored["metadata"]["uid"] == created.metadata.uid
    assert fake.namespaces == {NAMESPACE}

    read = api.read_namespaced_pod(NAME, NAMESPACE)
    assert read.to_dict() == created.to_dict()


def test_list_filters_by_label_and_field_selectors(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod("pod-a", worker="w1"))
    api.create_namespaced_pod(NAMESPACE, runner_pod("pod-b", worker="w2", extra="yes"))
    api.create_namespaced_pod("elsewhere", runner_pod("pod-c", worker="w1"))

    def names(namespace: str = NAMESPACE, **kwargs: Any) -> list[str]:
        return [pod.metadata.name for pod in api.list_namespaced_pod(namespace, **kwargs).items]

    assert names() == ["pod-a", "pod-b"]
    assert names(label_selector="runnerhub/worker=w1") == ["pod-a"]
    assert names(label_selector="runnerhub/env=prod,runnerhub/worker!=w1") == ["pod-b"]
    assert names(label_selector="extra") == ["pod-b"]
    assert names(label_selector="!extra,app.kubernetes.io/managed-by=runnerhub") == ["pod-a"]
    assert names(label_selector="runnerhub/worker in (w2,w3)") == ["pod-b"]
    assert names(field_selector="metadata.name=pod-b") == ["pod-b"]
    assert names(field_selector="status.phase=Running") == []
    every = [p.metadata.name for p in api.list_pod_for_all_namespaces(label_selector="runnerhub/worker=w1").items]
    assert every == ["pod-c", "pod-a"]  # by namespace, then name, as etcd's keys sort


def test_a_list_pages_with_limit_and_continue(api: client.CoreV1Api) -> None:
    for name in ("pod-a", "pod-b", "pod-c"):
        api.create_namespaced_pod(NAMESPACE, runner_pod(name))

    first = api.list_namespaced_pod(NAMESPACE, limit=2)
    second = api.list_namespaced_pod(NAMESPACE, limit=2, _continue=first.metadata._continue)

    assert [p.metadata.name for p in first.items] == ["pod-a", "pod-b"]
    assert first.metadata.remaining_item_count == 1
    assert [p.metadata.name for p in second.items] == ["pod-c"]
    assert second.metadata._continue is None


def test_list_items_carry_no_kind_as_in_a_real_list(api_client: client.ApiClient, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())

    status, body = raw(api_client, "GET", f"/api/v1/namespaces/{NAMESPACE}/pods")

    assert status == 200
    assert body["kind"] == "PodList"
    assert "kind" not in body["items"][0] and "apiVersion" not in body["items"][0]


def test_deleting_a_pod_returns_it_and_removes_it_at_once(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    created = api.create_namespaced_pod(NAMESPACE, runner_pod())

    deleted = api.delete_namespaced_pod(NAME, NAMESPACE, body=client.V1DeleteOptions(propagation_policy="Background"))

    assert isinstance(deleted, client.V1Pod)
    assert deleted.metadata.uid == created.metadata.uid
    assert fake.pods() == []
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod(NAME, NAMESPACE)
    assert raised.value.status == 404


def test_kubelet_states_deserialise_through_the_client(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())

    fake.set_waiting(NAMESPACE, NAME, "ImagePullBackOff", 'Back-off pulling image "x"')
    waiting = api.read_namespaced_pod(NAME, NAMESPACE).status
    fake.set_phase(NAMESPACE, NAME, "Running")
    running = api.read_namespaced_pod(NAME, NAMESPACE).status
    fake.set_phase(NAMESPACE, NAME, "Failed", exit_code=137, reason="OOMKilled", pod_reason="DeadlineExceeded")
    failed = api.read_namespaced_pod(NAME, NAMESPACE).status

    assert (waiting.phase, waiting.container_statuses[0].state.waiting.reason) == ("Pending", "ImagePullBackOff")
    assert running.phase == "Running" and running.start_time is not None
    assert running.container_statuses[0].ready and running.container_statuses[0].state.running is not None
    terminated = failed.container_statuses[0].state.terminated
    assert (failed.phase, failed.reason, terminated.exit_code, terminated.reason) == (
        "Failed", "DeadlineExceeded", 137, "OOMKilled"
    )


# --- secrets and garbage collection ------------------------------------------------------------


def test_a_secret_owned_by_a_pod_is_collected_when_the_pod_is_deleted(
    fake: FakeKubernetes, api: client.CoreV1Api
) -> None:
    pod = api.create_namespaced_pod(NAMESPACE, runner_pod())
    api.create_namespaced_secret(NAMESPACE, runner_secret(pod))
    api.create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name="unowned")))
    read = api.read_namespaced_secret(NAME, NAMESPACE)
    assert base64.b64decode(read.data["jitconfig"]) == b'{"runner": "config"}'
    assert read.type == "Opaque"

    api.delete_namespaced_pod(NAME, NAMESPACE)

    assert [s["metadata"]["name"] for s in fake.secrets()] == ["unowned"]


def test_a_pod_deleted_out_of_band_takes_its_secret_and_orphan_deletion_keeps_it(
    fake: FakeKubernetes, api: client.CoreV1Api
) -> None:
    first = api.create_namespaced_pod(NAMESPACE, runner_pod("pod-a"))
    second = api.create_namespaced_pod(NAMESPACE, runner_pod("pod-b"))
    api.create_namespaced_secret(NAMESPACE, runner_secret(first))
    api.create_namespaced_secret(NAMESPACE, runner_secret(second))

    assert fake.delete_pod_out_of_band(NAMESPACE, "pod-a")
    api.delete_namespaced_pod("pod-b", NAMESPACE, propagation_policy="Orphan")

    orphan = fake.secret(NAMESPACE, "pod-b")
    assert fake.secret(NAMESPACE, "pod-a") is None
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]


def test_a_secret_owned_by_a_uid_that_does_not_exist_is_collected(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    ghost = client.V1Pod(metadata=client.V1ObjectMeta(name="ghost", uid="00000000-0000-4000-8000-000000000000"))
    api.create_namespaced_secret(NAMESPACE, runner_secret(ghost))

    assert fake.collect_garbage() == [(NAMESPACE, "ghost")]
    assert fake.secrets() == []


def test_string_data_is_stored_as_base64_data(api: client.CoreV1Api) -> None:
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"token": "hello"})

    created = api.create_namespaced_secret(NAMESPACE, secret)

    assert created.data == {"token": base64.b64encode(b"hello").decode()}
    assert created.string_data is None


def test_deleting_a_secret_answers_a_success_status(api: client.CoreV1Api) -> None:
    api.create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name="s")))

    status = api.delete_namespaced_secret("s", NAMESPACE)

    # The client declares this answer an `object`, so it arrives as a plain dict.
    assert (status["kind"], status["status"], status["details"]["name"]) == ("Status", "Success", "s")


# --- errors as Kubernetes answers them ---------------------------------------------------------


def test_a_missing_pod_raises_404_not_found(api: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod("absent", NAMESPACE)

    assert raised.value.status == 404
    assert json.loads(raised.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "absent" not found',
        "reason": "NotFound",
        "details": {"name": "absent", "kind": "pods"},
        "code": 404,
    }
    with pytest.raises(ApiException) as raised:
        api.delete_namespaced_secret("absent", NAMESPACE)
    assert raised.value.status == 404


def test_creating_a_pod_twice_raises_409_already_exists(api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())

    with pytest.raises(ApiException) as raised:
        api.create_namespaced_pod(NAMESPACE, runner_pod())

    assert raised.value.status == 409
    body = json.loads(raised.value.body)
    assert (body["reason"], body["message"]) == ("AlreadyExists", f'pods "{NAME}" already exists')


def test_an_unknown_field_is_rejected_422_by_the_strict_schema(
    fake: FakeKubernetes, api_client: client.ApiClient
) -> None:
    pod = api_client.sanitize_for_serialization(runner_pod())
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    status, body = raw(api_client, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", pod)

    assert status == 422
    assert body["reason"] == "Invalid"
    assert "spec.containers[0]" in body["message"] and "imagePullPolicyy" in body["message"]
    assert fake.pods() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda pod: setattr(pod.spec.containers[0], "image", None), "spec.containers[0].image"),
        (lambda pod: pod.metadata.labels.update({"runnerhub/worker": "not a label!"}), "metadata.labels"),
        (lambda pod: setattr(pod.metadata, "name", "Upper_Case"), "metadata.name"),
        (lambda pod: setattr(pod.metadata, "name", "x" * 64), "metadata.name"),
        (lambda pod: setattr(pod.spec.containers[0].env[0].value_from.secret_key_ref, "name", None),
         "spec.containers[0].env[0].valueFrom.secretKeyRef.name"),
        (lambda pod: pod.spec.containers[0].resources.limits.update({"memory": "8 GB"}),
         "spec.containers[0].resources.limits[memory]"),
    ],
)
def test_what_the_api_server_forbids_beyond_the_schema_is_rejected_422(
    api: client.CoreV1Api, change: Any, field: str
) -> None:
    pod = runner_pod()
    change(pod)

    with pytest.raises(ApiException) as raised:
        api.create_namespaced_pod(NAMESPACE, pod)

    assert raised.value.status == 422
    assert field in [cause["field"] for cause in json.loads(raised.value.body)["details"]["causes"]]


def test_a_body_of_the_wrong_kind_or_bad_base64_is_rejected_400(api_client: client.ApiClient) -> None:
    secret_to_pods = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    bad_base64 = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}

    assert raw(api_client, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", secret_to_pods)[0] == 400
    assert raw(api_client, "POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", bad_base64)[0] == 400


def test_delete_options_are_validated_too(api_client: client.ApiClient, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{NAME}"

    assert raw(api_client, "DELETE", path, {"propagationPolicy": "Background", "bogus": 1})[0] == 422
    assert raw(api_client, "DELETE", path, {"propagationPolicy": "Sometimes"})[0] == 422
    assert raw(api_client, "DELETE", path, {"preconditions": {"uid": "another"}})[0] == 409
    assert raw(api_client, "DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})[0] == 200


def test_a_wrong_token_gets_401_and_is_not_counted_as_used(fake: FakeKubernetes) -> None:
    configuration = client.Configuration(host=fake.url, api_key={"BearerToken": "wrong"}, api_key_prefix={"BearerToken": "Bearer"})
    with client.ApiClient(configuration) as api_client:
        with pytest.raises(ApiException) as raised:
            client.CoreV1Api(api_client).list_namespaced_pod(NAMESPACE)

    assert raised.value.status == 401
    assert json.loads(raised.value.body)["reason"] == "Unauthorized"
    assert fake.used == set()


def test_injected_faults_answer_a_status_then_clear(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    fake.fail("POST", r"/pods$", 500)

    with pytest.raises(ApiException) as raised:
        api.create_namespaced_pod(NAMESPACE, runner_pod())
    assert raised.value.status == 500 and json.loads(raised.value.body)["reason"] == "InternalError"
    assert fake.pods() == []
    api.create_namespaced_pod(NAMESPACE, runner_pod())
    assert fake.errors == []


def test_a_fault_after_the_create_leaves_the_pod_so_a_retry_meets_409(
    fake: FakeKubernetes, api: client.CoreV1Api
) -> None:
    fake.fail("POST", r"/pods$", 504, after=True)

    with pytest.raises(ApiException) as timed_out:
        api.create_namespaced_pod(NAMESPACE, runner_pod())
    with pytest.raises(ApiException) as retried:
        api.create_namespaced_pod(NAMESPACE, runner_pod())

    assert (timed_out.value.status, retried.value.status) == (504, 409)
    assert len(fake.pods()) == 1


def test_a_429_carries_retry_after_and_is_raised_for_a_create(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    # POST is not idempotent, so urllib3 does not retry it (it would for a GET, sleeping Retry-After).
    fake.fail("POST", r"/secrets$", 429, retry_after=1)

    with pytest.raises(ApiException) as raised:
        api.create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name="s")))

    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "1"


def test_unknown_paths_and_bad_bodies_answer_a_status_never_a_traceback(fake: FakeKubernetes) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    auth = {"Authorization": f"Bearer {fake.token}"}
    answers = []
    for method, path, body, headers in [
        ("GET", "/api/v1/namespaces/ns/configmaps", None, {}),
        ("GET", "/nowhere", None, {}),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", b"{not json", {}),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", b"[]", {}),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", b"kind: Pod", {"Content-Type": "application/yaml"}),
        ("PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/x", b"{}", {"Content-Type": "application/merge-patch+json"}),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods?fieldSelector=spec.unknown%3Dx", None, {}),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=a%3D%3D%3Db", None, {}),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods?limit=many", None, {}),
    ]:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request(method, path, body=body, headers={**auth, **headers})
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())["kind"]))
        connection.close()

    assert answers == [
        (404, "Status"), (404, "Status"), (400, "Status"), (400, "Status"), (415, "Status"),
        (404, "Status"), (400, "Status"), (400, "Status"), (400, "Status"),
    ]
    assert fake.errors == []
    assert ("patch", "pods") in fake.used and ("list", "configmaps") in fake.used


# --- logs and events ---------------------------------------------------------------------------


def test_a_pod_log_is_text_cut_to_its_tail(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())
    fake.set_phase(NAMESPACE, NAME, "Running")
    fake.set_log(NAMESPACE, NAME, "one\ntwo\nthree\n")

    assert api.read_namespaced_pod_log(NAME, NAMESPACE, tail_lines=2) == "two\nthree\n"
    assert api.read_namespaced_pod_log(NAME, NAMESPACE, container="runner") == "one\ntwo\nthree\n"
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod_log(NAME, NAMESPACE, container="sidecar")
    assert raised.value.status == 400


def test_the_log_of_a_container_still_being_created_is_refused(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    api.create_namespaced_pod(NAMESPACE, runner_pod())

    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod_log(NAME, NAMESPACE)

    assert raised.value.status == 400
    assert "is waiting to start: ContainerCreating" in json.loads(raised.value.body)["message"]


def test_events_are_listed_by_involved_object(fake: FakeKubernetes, api: client.CoreV1Api) -> None:
    pod = api.create_namespaced_pod(NAMESPACE, runner_pod())
    fake.add_event(NAMESPACE, "Pod", NAME, "FailedScheduling", "0/3 nodes are available")
    fake.add_event(NAMESPACE, "Pod", "another", "Pulled", "pulled", type="Normal")

    events = api.list_namespaced_event(NAMESPACE, field_selector=f"involvedObject.name={NAME}").items

    assert [(e.reason, e.type, e.involved_object.uid) for e in events] == [
        ("FailedScheduling", "Warning", pod.metadata.uid)
    ]


# --- what the clients used, and how they find the server ----------------------------------------


def test_used_records_every_verb_in_rbac_terms(fake: FakeKubernetes, api_client: client.ApiClient, api: client.CoreV1Api) -> None:
    pod = api.create_namespaced_pod(NAMESPACE, runner_pod())
    api.create_namespaced_secret(NAMESPACE, runner_secret(pod))
    api.read_namespaced_pod(NAME, NAMESPACE)
    api.list_namespaced_pod(NAMESPACE)
    api.list_namespaced_event(NAMESPACE)
    fake.set_phase(NAMESPACE, NAME, "Running")
    api.read_namespaced_pod_log(NAME, NAMESPACE)
    api.delete_namespaced_pod(NAME, NAMESPACE)
    status, _ = raw(api_client, "GET", f"/api/v1/namespaces/{NAMESPACE}/pods?watch=true")

    assert status == 404  # watches are not emulated, but they are recorded
    assert fake.used == {
        ("create", "pods"),
        ("create", "secrets"),
        ("get", "pods"),
        ("list", "pods"),
        ("list", "events"),
        ("get", "pods/log"),
        ("delete", "pods"),
        ("watch", "pods"),
    }
    assert ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{NAME}/log", {}) in fake.requests


def test_the_kubeconfig_loads_through_the_clients_own_loader(fake: FakeKubernetes, tmp_path: Path) -> None:
    configuration = client.Configuration()

    config.load_kube_config(config_file=str(fake.write_kubeconfig(tmp_path / "kubeconfig")), client_configuration=configuration)

    assert configuration.host == fake.url
    with client.ApiClient(configuration) as api_client:
        assert client.CoreV1Api(api_client).list_namespaced_pod(NAMESPACE).items == []


def test_a_process_finds_the_server_through_kubeconfig_alone(fake: FakeKubernetes, tmp_path: Path) -> None:
    # In a process of its own: the client reads KUBECONFIG once, when kubernetes.config is imported,
    # and load_kube_config() sets the process-wide default configuration.
    fake.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    program = (
        "from kubernetes import client, config\n"
        "config.load_kube_config()\n"
        "print(client.CoreV1Api().read_namespaced_pod(%r, %r).status.phase)\n" % (NAME, NAMESPACE)
    )
    client.CoreV1Api(fake.api_client()).create_namespaced_pod(NAMESPACE, runner_pod())

    result = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig")},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert (result.returncode, result.stdout) == (0, "Pending\n"), result.stderr


def test_the_schema_version_is_one_kubernetes_validate_knows() -> None:
    import kubernetes_validate

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"name": "x"}]}}

    assert kubernetes_validate.validate(pod, KUBERNETES_SCHEMA_VERSION, strict=True) == "1.37"


def test_concurrent_clients_each_get_their_own_pod_and_resource_version(fake: FakeKubernetes) -> None:
    def create(index: int) -> str:
        with fake.api_client() as api_client:
            pod = client.CoreV1Api(api_client).create_namespaced_pod(NAMESPACE, runner_pod(f"pod-{index}"))
            return pod.metadata.resource_version

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(create, range(8)))

    assert len(set(versions)) == 8
    assert len(fake.pods(NAMESPACE)) == 8
