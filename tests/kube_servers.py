"""Triton, MLServer and KServe workloads for the local Kubernetes API server
(tests/kube_api_server.py), shaped as their own manifests and controllers make them, and the
Open Inference Protocol / KServe v1 protocol objects discovery needs.

- Triton: a Deployment's pod running ``nvcr.io/nvidia/tritonserver`` with ``--load-model``, a
  Service with ``http`` 8000, ``grpc`` 8001, ``metrics`` 8002 (as Triton's Helm chart).
- MLServer: ``seldonio/mlserver`` with ``MLSERVER_MODEL_NAME``; ports 8080, 8081, 8082.
- KServe (v1beta1 InferenceService, as KServe's reconcilers make them): raw mode — a Deployment's
  pod labelled ``serving.kserve.io/inferenceservice=NAME``, ``component=predictor``,
  ``app=isvc.NAME-predictor`` and a Service ``NAME-predictor`` (port 80 → the container's port,
  named as the container's first port or else after the component); serverless mode — a Knative
  revision's pod (``kserve-container`` + ``queue-proxy``, ``serving.knative.dev/revision``) with
  no service of its own a client can use: ExternalName Services ``NAME`` and ``NAME-predictor``
  and the revision's Services pointing at queue-proxy's 8012.

The protocol objects: while the ``v2`` (OIP gRPC), ``v2+http`` (OIP REST) and ``kserve+http``
(KServe v1) protocols are not registered by tfcompare itself, ``oip_protocols`` registers objects
carrying the hints of ``tfcompare.serving.protocols.oip_hints`` (what discovery reads); their
clients are not needed by these tests and say so.
"""

from __future__ import annotations

import pytest

from tfcompare.serving import protocols
from tfcompare.serving.protocols import oip_hints
from tfcompare.serving.protocols.base import ServingProtocol

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.02-tf2-python-py3"
MLSERVER_IMAGE = "seldonio/mlserver:1.6.1"
QUEUE_PROXY = {
    "name": "queue-proxy",
    "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:0d3f1a",
    "ports": [
        {"name": "http-queueadm", "containerPort": 8022, "protocol": "TCP"},
        {"name": "http-autometric", "containerPort": 9090, "protocol": "TCP"},
        {"name": "http-usermetric", "containerPort": 9091, "protocol": "TCP"},
        {"name": "queue-port", "containerPort": 8012, "protocol": "TCP"},
    ],
    "resources": {"requests": {"cpu": "25m"}},
}


class _StandIn(ServingProtocol):
    def client(self, spec, address=None, where=None):
        raise NotImplementedError(f"the {self.name} client is not part of these tests")

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        host, _, _port = address.rpartition(":")
        return (f"http://{host}:8002{oip_hints.METRICS_PATH}",)


class _OipGrpc(_StandIn):
    name, label, server, transport, default_port = "v2", "OIP gRPC", "Triton", "grpc", 8001
    scheme = "v2"
    discovery = oip_hints.OIP_GRPC
    metrics_port = oip_hints.OIP_METRICS_PORT
    numeric_versions = False


class _OipHttp(_StandIn):
    name, label, server, transport, default_port = "v2+http", "OIP REST", "Triton", "http", 8000
    scheme = "v2+http"
    discovery = oip_hints.OIP_HTTP
    metrics_port = oip_hints.OIP_METRICS_PORT
    numeric_versions = False


class _KserveV1(_StandIn):
    name, label, server, transport = "kserve+http", "KServe v1", "KServe", "http"
    default_port = 8080
    scheme = "kserve+http"
    discovery = oip_hints.KSERVE_V1
    metrics_port = oip_hints.KSERVE_METRICS_PORT


@pytest.fixture
def oip_protocols(monkeypatch):
    """The registry with the OIP and KServe v1 protocols (tfcompare's own once registered)."""
    table = dict(protocols.PROTOCOLS)
    for proto in (_OipGrpc(), _OipHttp(), _KserveV1()):
        table.setdefault(proto.name, proto)
    monkeypatch.setattr(protocols, "PROTOCOLS", table)
    return table


# --------------------------------------------------------------------------- workloads


def add_triton_service(
    server,
    name: str,
    ns: str = "ml",
    *,
    http: str | None = None,
    grpc: str | None = None,
    metrics: str | None = None,
    model: str | None = "inception-v3",
    expose_metrics: bool = True,
    limits: dict[str, str] | None = None,
) -> str:
    """A Triton Deployment's pod + Service; returns the pod name."""
    labels = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": name}
    ports = [
        {"name": "http", "port": 8000, "targetPort": "http"},
        {"name": "grpc", "port": 8001, "targetPort": "grpc"},
    ]
    if expose_metrics:
        ports.append({"name": "metrics", "port": 8002, "targetPort": "metrics"})
    server.add_service(ns, name, ports, {"app.kubernetes.io/instance": name}, labels)
    pod = f"{name}-5f7c9d-abcde"
    args = ["tritonserver", "--model-repository=/models", "--model-control-mode=explicit"]
    if model:
        args.append(f"--load-model={model}")
    backends = {p: a for p, a in ((8000, http), (8001, grpc), (8002, metrics)) if a}
    server.add_pod(
        ns,
        pod,
        labels,
        backends or {8000: "127.0.0.1:9"},
        image=TRITON_IMAGE,
        container="triton",
        args=args,
        port_names={8000: "http", 8001: "grpc", 8002: "metrics"},
        declared_ports=[8000, 8001, 8002],
        limits=limits,
    )
    return pod


def add_mlserver_service(server, name: str, ns: str = "ml", *, model: str = "iris") -> str:
    labels = {"app": name}
    server.add_service(
        ns,
        name,
        [
            {"name": "http", "port": 8080, "targetPort": 8080},
            {"name": "grpc", "port": 8081, "targetPort": 8081},
            {"name": "metrics", "port": 8082, "targetPort": 8082},
        ],
        {"app": name},
    )
    pod = f"{name}-7b8d6c-qwert"
    server.add_pod(
        ns,
        pod,
        labels,
        {8080: "127.0.0.1:9"},
        image=MLSERVER_IMAGE,
        container="mlserver",
        env={"MLSERVER_MODEL_NAME": model},
        port_names={8080: "http", 8081: "grpc", 8082: "metrics"},
        declared_ports=[8080, 8081, 8082],
    )
    return pod


def add_isvc(
    server,
    name: str,
    ns: str = "ml",
    *,
    mode: str = "Serverless",
    predictor: dict | None = None,
    image: str = "kserve/sklearnserver:v0.14.1",
    args: list[str] | None = None,
    backends: dict[int, str] | None = None,
    container_ports: list[dict] | None = None,
    annotations: dict[str, str] | None = None,
    ready: bool = True,
    limits: dict[str, str] | None = None,
) -> str:
    """An InferenceService with its predictor pod and the services KServe (raw) or Knative
    (serverless) make; returns the pod name. ``backends`` relays pod ports to local servers."""
    server.kserve_installed = True
    predictor = predictor or {
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/iris"}
    }
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{name}",
            "annotations": {"serving.kserve.io/deploymentMode": mode} if mode else {},
        },
        "spec": {"predictor": predictor},
        "status": {
            "url": f"http://{name}.{ns}.example.com",
            "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            **({"deploymentMode": mode} if mode else {}),
        },
    }
    server.isvcs[f"{ns}/{name}"] = isvc
    owner = {"serving.kserve.io/inferenceservice": name, "component": "predictor"}
    serverless = mode in ("Serverless", "Knative")
    if serverless:
        revision = f"{name}-predictor-00001"
        labels = {
            **owner,
            "serving.knative.dev/service": f"{name}-predictor",
            "serving.knative.dev/revision": revision,
            "app": revision,
        }
        pod = f"{revision}-deployment-6c9f8-zx81p"
        # Knative declares the user container's one port (user-port 8080 unless told)
        ports = container_ports or [{"name": "user-port", "containerPort": 8080}]
        names = {p["containerPort"]: p["name"] for p in ports if p.get("name")}
        declared = [p["containerPort"] for p in ports]
        sidecars = [QUEUE_PROXY]
        for svc, target in ((name, "knative-local-gateway.istio-system.svc.cluster.local"),):
            server.add_service(ns, svc, [], None, owner, external_name=target)
        server.add_service(
            ns, f"{name}-predictor", [], None, owner, external_name="kourier-internal"
        )
        for suffix in ("", "-private"):
            server.add_service(
                ns,
                f"{revision}{suffix}",
                [{"name": "http", "port": 80, "targetPort": 8012}],
                {"serving.knative.dev/revision": revision},
                owner,
            )
    else:
        labels = {**owner, "app": f"isvc.{name}-predictor"}
        pod = f"{name}-predictor-7d4b9c8f6-k2j4n"
        ports = container_ports or []
        names = {p["containerPort"]: p["name"] for p in ports if p.get("name")}
        declared = [p["containerPort"] for p in ports]
        sidecars = []
        first = ports[0] if ports else {"name": f"{name}-predictor", "containerPort": 8080}
        svc_ports = [
            {
                "name": first.get("name") or f"{name}-predictor",
                "port": 80,
                "targetPort": first["containerPort"],
            },
            *(
                {
                    "name": p.get("name", ""),
                    "port": p["containerPort"],
                    "targetPort": p["containerPort"],
                }
                for p in ports[1:]
            ),
        ]
        server.add_service(
            ns, f"{name}-predictor", svc_ports, {"app": f"isvc.{name}-predictor"}, owner
        )
    server.add_pod(
        ns,
        pod,
        labels,
        backends or {8080: "127.0.0.1:9"},
        ready=ready,
        image=image,
        container="kserve-container",
        args=args,
        port_names=names,
        declared_ports=declared,
        annotations=annotations,
        sidecars=sidecars,
        limits=limits,
    )
    return pod
