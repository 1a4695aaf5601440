"""The Kubernetes side of an in-cluster capacity sweep: ConfigMaps (the plan and the
pre-serialised requests as files) and one Indexed Job whose pods run ``tfcompare load --agent``.

The plan's ConfigMap holds ``plan.json`` and the start times published during the run; the
requests travel in it too while they fit, and otherwise in request ConfigMaps of their own
(``NAME-requests-1`` …), each under the 1 MiB an object may hold — a tensor model's request is
600 KB for one 224×224×3 float32 image. A projected volume mounts them all as one folder.

Every object carries the owner label ``app.kubernetes.io/managed-by=tfcompare`` and the run's id;
the ConfigMaps are owned by the Job (``ownerReferences``), so deleting the Job (foreground
propagation) removes its pods and the ConfigMaps, and ``ttlSecondsAfterFinished`` cleans up a Job
whose coordinator went away. Agents get no service-account token: everything they need is mounted.

Request headers (``--header``, e.g. an API key for an authenticating gateway) never go into the
ConfigMap: when a backend has any, a third object, a Secret of the same name, labels and owner,
holds them as ``headers.json`` and is mounted read-only into the agents (readable by the agent's
group only); it is deleted with the Job.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tfcompare.cluster.cluster_errors import ClusterError, PlanTooLarge, translate
from tfcompare.cluster.kube import REQUEST_TIMEOUT, api_client, resolve_context, server_of

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data + binaryData the API server accepts in one object
# what one ConfigMap of ours holds at most: the limit, less room for keys and the object's metadata
SHARD_BYTES = CONFIGMAP_LIMIT - 64 * 1024
MAX_REQUEST_CONFIGMAPS = 64  # a plan of up to ~60 MiB of requests
PLAN_MOUNT = "/etc/tfcompare/plan"
HEADERS_MOUNT = "/etc/tfcompare/headers"
HEADERS_FILE = "headers.json"
HEADERS_ENV = "TFCOMPARE_AGENT_HEADERS"  # where an agent finds the headers file
AGENT_UID = 10001
MANAGED_BY = ("app.kubernetes.io/managed-by", "tfcompare")
RUN_LABEL = "tfcompare.io/load-run"
DEFAULT_IMAGE = "tfcompare-load-agent:latest"


# An image reference as container runtimes read it (the distribution/reference grammar):
# [registry[:port]/]path[:tag][@digest], path components lower case.
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
# a registry has a dot, a port or is localhost ("team/agent" is a path on Docker Hub)
_REGISTRY = (
    rf"(?:(?:localhost|{_HOST_PART}(?:\.{_HOST_PART})+|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
    rf"|{_HOST_PART}:[0-9]+)"
)
_IMAGE_REFERENCE = re.compile(
    rf"(?:{_REGISTRY}/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?",
    re.ASCII,
)


def check_image_reference(image: str) -> str:
    """``image`` if it is a container image reference (``registry/path:tag@digest``), else
    ValueError saying so: a newline or a space in it would reach the Job's pod spec."""
    if len(image) > 512 or not _IMAGE_REFERENCE.fullmatch(image):
        raise ValueError(
            f"{image!r} is not a container image reference (expected e.g. "
            "registry.example.com/team/tfcompare-load-agent:1.0)"
        )
    return image


@dataclass(frozen=True)
class AgentResources:
    """Requests/limits of each agent pod (Kubernetes quantities)."""

    cpu_request: str = "1"
    cpu_limit: str = "2"
    memory_request: str = "256Mi"
    memory_limit: str = "1Gi"


class LoadObjects(NamedTuple):
    """The objects of a run: the plan's ConfigMap, the Job, the headers' Secret if any, and the
    request ConfigMaps the plan's own could not hold."""

    configmap: dict
    job: dict
    secret: dict | None = None
    requests: tuple[dict, ...] = ()

    def listed(self, *, redacted: bool = False) -> list[dict]:
        """The objects in creation order; ``redacted``: the Secret without its values (what a
        dry run prints)."""
        secret = self.secret
        if secret is not None and redacted:
            secret = {
                **{k: v for k, v in secret.items() if k != "data"},
                "stringData": {HEADERS_FILE: "<the --header values: not printed>"},
            }
        return [
            self.configmap,
            *self.requests,
            *([secret] if secret is not None else []),
            self.job,
        ]


def _shards(files: dict[str, bytes]) -> tuple[dict[str, bytes], list[dict[str, bytes]]]:
    """The plan's files split between the plan's ConfigMap (the JSON files, then requests while
    they fit) and as few request ConfigMaps as hold the rest (first fit, largest first). Raises
    PlanTooLarge for one request above what a ConfigMap holds or more request ConfigMaps than
    ``MAX_REQUEST_CONFIGMAPS``."""
    text = {k: v for k, v in files.items() if k.endswith(".json")}
    main_size = sum(len(k) + len(v) for k, v in text.items())
    if main_size > SHARD_BYTES:
        raise PlanTooLarge(
            f"the load plan's description is {main_size / 1048576:.2f} MiB, more than a "
            "Kubernetes ConfigMap may hold (1 MiB): use fewer backends, variants or images"
        )
    bins = [(k, v) for k, v in files.items() if k not in text]
    bins.sort(key=lambda kv: -len(kv[1]))
    shards: list[tuple[int, dict[str, bytes]]] = [(main_size, dict(text))]
    for key, content in bins:
        size = len(key) + len(content)
        if size > SHARD_BYTES:
            raise PlanTooLarge(
                f"one request ({key}) is {len(content) / 1048576:.2f} MiB, more than the 1 MiB a "
                "Kubernetes ConfigMap may hold: send smaller variants (e.g. --variants 512-jpeg), "
                "or measure this backend from this machine"
            )
        for i, (used, held) in enumerate(shards):
            if used + size <= SHARD_BYTES:
                held[key] = content
                shards[i] = (used + size, held)
                break
        else:
            shards.append((size, {key: content}))
    if len(shards) - 1 > MAX_REQUEST_CONFIGMAPS:
        total = sum(len(v) for _, v in bins)
        raise PlanTooLarge(
            f"the load plan's requests are {total / 1048576:.1f} MiB: more than "
            f"{MAX_REQUEST_CONFIGMAPS} ConfigMaps of 1 MiB; use fewer or smaller images or "
            "variants (e.g. --variants 512-jpeg or one image)"
        )
    return shards[0][1], [held for _, held in shards[1:]]


def _configmap(name: str, namespace: str, labels: dict, files: dict[str, bytes]) -> dict:
    data, binary = {}, {}
    for key, content in files.items():
        if key.endswith(".json"):
            data[key] = content.decode("utf-8")
        else:
            binary[key] = base64.b64encode(content).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
        "binaryData": binary,
    }


def manifests(
    run_id: str,
    namespace: str,
    files: dict[str, bytes],
    *,
    agents: int,
    image: str = DEFAULT_IMAGE,
    deadline_s: int = 3600,
    resources: AgentResources = AgentResources(),
    headers: dict[str, list[tuple[str, str]]] | None = None,
) -> LoadObjects:
    """The objects for a run. ``files`` become ConfigMap keys: text as ``data``, the serialised
    requests as ``binaryData``, in the plan's ConfigMap and as many request ConfigMaps as they
    need (``_shards``); ``headers`` (backend name → its request headers), when any backend has
    some, the Secret's. Raises ClusterError when the plan is too big or the image is not an image
    reference."""
    try:
        check_image_reference(image)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    name = f"tfcompare-load-{run_id}"
    labels = {
        MANAGED_BY[0]: MANAGED_BY[1],
        RUN_LABEL: run_id,
        "app.kubernetes.io/name": "tfcompare-load-agent",
    }
    main, rest = _shards(files)
    configmap = _configmap(name, namespace, labels, main)
    requests = tuple(
        _configmap(f"{name}-requests-{i}", namespace, labels, held)
        for i, held in enumerate(rest, start=1)
    )
    container: dict[str, Any] = {
        "name": "agent",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["tfcompare", "load", "--agent", PLAN_MOUNT],
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": AGENT_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": agents,
            "parallelism": agents,
            # a failed or evicted agent is replaced (it joins at the next level); the others go on
            "backoffLimit": 2 * agents,
            "activeDeadlineSeconds": int(deadline_s),
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        _plan_volume(configmap, requests),
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
    secret = None
    if headers:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "data": {
                HEADERS_FILE: base64.b64encode(
                    json.dumps({b: [list(h) for h in hs] for b, hs in headers.items()}).encode()
                ).decode("ascii")
            },
        }
        pod = job["spec"]["template"]["spec"]
        pod["securityContext"]["fsGroup"] = AGENT_UID  # the mounted file's group: the agent's
        pod["volumes"].append(
            {"name": "headers", "secret": {"secretName": name, "defaultMode": 0o440}}
        )
        container["volumeMounts"].append(
            {"name": "headers", "mountPath": HEADERS_MOUNT, "readOnly": True}
        )
        container["env"] = [{"name": HEADERS_ENV, "value": f"{HEADERS_MOUNT}/{HEADERS_FILE}"}]
    return LoadObjects(configmap, job, secret, requests)


def _plan_volume(configmap: dict, requests: tuple[dict, ...]) -> dict:
    """The agents' plan folder: the plan's ConfigMap, or it and the request ConfigMaps projected
    into one folder (the kubelet refreshes both kinds when the plan's ConfigMap changes)."""
    if not requests:
        return {"name": "plan", "configMap": {"name": configmap["metadata"]["name"]}}
    sources = [{"configMap": {"name": cm["metadata"]["name"]}} for cm in (configmap, *requests)]
    return {"name": "plan", "projected": {"sources": sources}}


def to_yaml(objects: list[dict]) -> str:
    import yaml

    return yaml.safe_dump_all(objects, sort_keys=False)


class LoadJob:
    """A created (or about to be created) ConfigMap + Job. ``delete`` is idempotent and safe from
    any thread; the pods' logs are followed through the API (``follow=true``)."""

    def __init__(
        self,
        configmap: dict,
        job: dict,
        context: str | None = None,
        secret: dict | None = None,
        requests: tuple[dict, ...] = (),
    ):
        from kubernetes import client

        self.configmap, self.job, self.secret = configmap, job, secret
        self.requests = tuple(requests)
        self.namespace = job["metadata"]["namespace"]
        self.name = job["metadata"]["name"]
        self.context = resolve_context(context).name
        self._api = api_client(context)
        self._server = server_of(self._api)
        self._core = client.CoreV1Api(self._api)
        self._batch = client.BatchV1Api(self._api)
        self._followed: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._deleted = False
        self._watches: list = []
        self._lock = threading.Lock()

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except Exception as exc:
            raise translate(exc, what, self._server) from None

    def create(self) -> None:
        where = f"namespace {self.namespace!r}"
        made_maps: list[str] = []
        try:
            for cm in (self.configmap, *self.requests):
                self._call(
                    f"configmaps in {where}",
                    self._core.create_namespaced_config_map,
                    self.namespace,
                    cm,
                )
                made_maps.append(cm["metadata"]["name"])
        except ClusterError:
            for name in made_maps:
                self._delete_configmap(name)
            raise
        try:
            if self.secret is not None:
                self._call(
                    f"secrets in {where}",
                    self._core.create_namespaced_secret,
                    self.namespace,
                    self.secret,
                )
            made = self._call(
                f"jobs in {where}", self._batch.create_namespaced_job, self.namespace, self.job
            )
        except ClusterError:
            self._delete_configmap()
            self._delete_secret()
            raise
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": self.name,
            "uid": made.metadata.uid,
            "blockOwnerDeletion": False,
        }
        for cm in (self.configmap, *self.requests):
            self._call(
                f"configmap {cm['metadata']['name']}",
                self._core.patch_namespaced_config_map,
                cm["metadata"]["name"],
                self.namespace,
                {"metadata": {"ownerReferences": [owner]}},
            )
        if self.secret is not None:
            self._call(
                f"secret {self.name}",
                self._core.patch_namespaced_secret,
                self.name,
                self.namespace,
                {"metadata": {"ownerReferences": [owner]}},
            )

    def publish(self, key: str, text: str) -> None:
        """Add a file to the agents' mounted plan (the kubelet updates mounted ConfigMaps)."""
        self._call(
            f"configmap {self.name}",
            self._core.patch_namespaced_config_map,
            self.name,
            self.namespace,
            {"data": {key: text}},
        )

    def pods(self) -> list:
        return self._call(
            f"pods of job {self.name}",
            self._core.list_namespaced_pod,
            self.namespace,
            label_selector=f"job-name={self.name}",
        ).items

    def follow(self, pods: list, on_line: Callable[[str, str], None]) -> None:
        """Follow the logs of pods not followed yet that have started: ``on_line(pod, line)``
        from a thread per pod, until the pod's log ends."""
        for pod in pods:
            if self._deleted:
                return
            name = pod.metadata.name
            phase = pod.status.phase if pod.status else None
            if name in self._followed or phase not in ("Running", "Succeeded", "Failed"):
                continue
            self._followed.add(name)
            # not a daemon: a thread still opening a connection while the interpreter exits
            # aborts the process; ``delete`` ends every stream, so these always finish
            thread = threading.Thread(
                target=self._follow,
                args=(name, on_line),
                name=f"tfcompare-log-{name}",
                daemon=False,
            )
            thread.start()
            self._threads.append(thread)

    def _follow(self, pod: str, on_line: Callable[[str, str], None]) -> None:
        from kubernetes import watch

        w = watch.Watch()
        with self._lock:
            self._watches.append(w)
        try:
            for line in w.stream(
                self._core.read_namespaced_pod_log, name=pod, namespace=self.namespace
            ):
                on_line(pod, line)
        except Exception as exc:  # a log that cannot be read is this pod's problem
            if not self._deleted:
                on_line(pod, json.dumps({"type": "log-error", "text": str(exc)[:200]}))

    def delete(self) -> None:
        """Delete the Job with foreground propagation (its pods first) and the ConfigMap."""
        with self._lock:
            if self._deleted:
                return
            self._deleted = True
        with contextlib.suppress(ClusterError):
            self._call(
                f"job {self.name}",
                self._batch.delete_namespaced_job,
                self.name,
                self.namespace,
                propagation_policy="Foreground",
            )
        self._delete_configmap()
        self._delete_secret()
        for thread in self._threads:
            thread.join(timeout=5)
        for w in self._watches:  # a log stream still open: end it, so no thread is left reading
            w.stop()
            resp = getattr(w, "_resp", None)
            if resp is not None:
                with contextlib.suppress(Exception):
                    resp.shutdown() if hasattr(resp, "shutdown") else resp.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._api.close()

    def _delete_configmap(self, name: str | None = None) -> None:
        """Delete one ConfigMap (``name``), or the plan's and every request ConfigMap."""
        names = (
            [name] if name else [cm["metadata"]["name"] for cm in (self.configmap, *self.requests)]
        )
        for each in names:
            with contextlib.suppress(ClusterError):  # already collected with its Job: fine
                self._call(
                    f"configmap {each}",
                    self._core.delete_namespaced_config_map,
                    each,
                    self.namespace,
                )

    def _delete_secret(self) -> None:
        if self.secret is None:
            return
        with contextlib.suppress(ClusterError):  # already collected with its Job: fine
            self._call(
                f"secret {self.name}",
                self._core.delete_namespaced_secret,
                self.name,
                self.namespace,
            )

    def wait_gone(self, timeout_s: float = 30.0) -> bool:
        """Whether the Job's pods are all gone (after ``delete``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if not self.pods():
                    return True
            except ClusterError:
                return False
            time.sleep(0.2)
        return False


def service_address(spec) -> str:
    """Where an agent inside the cluster reaches a ``k8s://`` backend: the service's ClusterIP and
    the port its protocol's discovery hints name (no DNS lookup in the measured path), or
    ``SERVICE.NAMESPACE.svc:PORT`` for a headless service; for a serverless KServe
    InferenceService its cluster-local address. Raises ClusterError (unknown service, no such
    port)."""
    from kubernetes import client

    from tfcompare.cluster import kserve
    from tfcompare.cluster.discovery import choose_port, read_service
    from tfcompare.cluster.target import parse_target

    target = parse_target(spec.target)
    with api_client(target.context) as api:
        server = server_of(api)
        try:
            svc = read_service(client.CoreV1Api(api), target, server)
        except ClusterError as exc:
            if exc.status != 404:
                raise
            svc, missing = None, exc
        if svc is None or (not svc.spec.selector and svc.spec.type == "ExternalName"):
            address = kserve.cluster_local_address(api, target, server)
            if address is not None:
                return address
            if svc is None:
                raise missing from None
    port = choose_port(svc, target, spec.protocol)
    ip = svc.spec.cluster_ip
    if ip and ip != "None":
        return f"{ip}:{port.port}"
    return f"{target.service}.{target.namespace}.svc:{port.port}"
