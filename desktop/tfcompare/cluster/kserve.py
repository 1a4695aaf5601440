"""KServe InferenceServices (``serving.kserve.io/v1beta1``, read through the CustomObjects API):
their predictor pods and ports, the protocol they answer, and where a forward goes.

Facts from KServe's source (``pkg/constants``, ``pkg/apis/serving/v1beta1``, the service
reconciler, ``config/runtimes``): the predictor is ``spec.predictor.model`` (``modelFormat``,
``runtime``, ``protocolVersion``) or a framework key (``tensorflow``, ``triton``, ``sklearn`` …)
or custom ``containers``; ``protocolVersion`` is ``v1``, ``v2``, ``grpc-v1`` or ``grpc-v2``, by
default ``v1`` (``v2`` for the ``triton`` key). Predictor pods carry
``serving.kserve.io/inferenceservice=NAME`` and ``component=predictor``; the server runs in the
container ``kserve-container`` (HTTP 8080; gRPC 9000 in the built-in runtimes). The deployment
mode is the annotation ``serving.kserve.io/deploymentMode`` (``RawDeployment``/``Standard`` or
``Serverless``/``Knative``; the status' ``deploymentMode`` says which one applied):

- raw (Standard): a Deployment and a Service ``NAME-predictor`` (port 80 → the container's first
  port, further container ports as they are): forwarded like any Service;
- serverless (Knative): a Knative Service; the request path is ingress → activator →
  queue-proxy → container. tfcompare forwards straight to a ready predictor pod's container port
  (the target names the InferenceService); to measure through the ingress instead, address the
  ingress with the InferenceService's host in the Host header (``,host=``).
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from tfcompare.cluster.cluster_errors import translate
from tfcompare.cluster.kube import REQUEST_TIMEOUT

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"
CONTAINER = "kserve-container"
KNATIVE_REVISION_LABEL = "serving.knative.dev/revision"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
METRICS_PORT_ANNOTATION = "prometheus.kserve.io/port"
USER_PORT = 8080  # Knative's user port, KServe's HTTP port
FRAMEWORKS = (
    "tensorflow",
    "triton",
    "sklearn",
    "xgboost",
    "pytorch",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
)
RAW, SERVERLESS, MODELMESH = "raw", "serverless", "modelmesh"
_MODES = {
    "rawdeployment": RAW,
    "standard": RAW,
    "serverless": SERVERLESS,
    "knative": SERVERLESS,
    "modelmesh": MODELMESH,
}


def _custom(api):
    from kubernetes import client

    return client.CustomObjectsApi(api)


def list_inference_services(api, namespace: str | None, server: str) -> tuple[list[dict], list]:
    """The InferenceServices in ``namespace`` (None: all), and notes: none at all when KServe is
    not installed (404); a note when listing them is not allowed or fails."""
    custom = _custom(api)
    try:
        if namespace is None:
            doc = custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT
            )
        else:
            doc = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
            )
    except Exception as exc:
        where = "all namespaces" if namespace is None else f"namespace {namespace!r}"
        err = translate(exc, f"KServe InferenceServices in {where}", server)
        if err.status == 404:
            return [], []
        return [], [f"KServe InferenceServices not listed: {err}"]
    items = [i for i in (doc or {}).get("items", []) if isinstance(i, dict)]
    return sorted(items, key=lambda i: _meta(i, "name")), []


def read_inference_service(api, namespace: str, name: str, server: str) -> dict | None:
    """The InferenceService, or None when there is none of that name (or KServe is absent)."""
    try:
        return _custom(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
        )
    except Exception as exc:
        err = translate(exc, f"InferenceService {namespace}/{name}", server)
        if err.status == 404:
            return None
        raise err from None


# --------------------------------------------------------------------------- reading the spec


def _meta(isvc: dict, key: str) -> str:
    return str((isvc.get("metadata") or {}).get(key) or "")


def predictor(isvc: dict) -> tuple[dict, str | None, str | None]:
    """(the predictor's implementation, its model format, its runtime)."""
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    model = pred.get("model")
    if isinstance(model, dict):
        fmt = (model.get("modelFormat") or {}).get("name")
        return model, fmt, model.get("runtime")
    for key in FRAMEWORKS:
        if isinstance(pred.get(key), dict):
            return pred[key], key, None
    return pred, None, None


def protocol_version(isvc: dict) -> str:
    """The predictor's ``protocolVersion``, KServe's default when unset (``v2`` for the
    ``triton`` framework key, else ``v1``)."""
    impl, fmt, runtime = predictor(isvc)
    given = impl.get("protocolVersion")
    if given:
        return str(given)
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    return "v2" if isinstance(pred.get("triton"), dict) else "v1"


def deployment_mode(isvc: dict, pods: list) -> str:
    """raw, serverless or modelmesh: the status says which applied, else the annotation, else
    the pods (Knative's revision label)."""
    status = isvc.get("status") or {}
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    for value in (status.get("deploymentMode"), annotations.get(MODE_ANNOTATION)):
        if value and str(value).lower() in _MODES:
            return _MODES[str(value).lower()]
    if any(KNATIVE_REVISION_LABEL in (p.metadata.labels or {}) for p in pods):
        return SERVERLESS
    return RAW


def host(isvc: dict) -> str | None:
    """The host name the ingress routes the InferenceService by (its status URL's)."""
    url = (isvc.get("status") or {}).get("url")
    return urlsplit(url).hostname if isinstance(url, str) and "://" in url else None


def not_ready(isvc: dict) -> str:
    for cond in (isvc.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") != "True":
            return str(cond.get("message") or cond.get("reason") or "not ready")
    return ""


def predictor_pods(core, namespace: str, name: str, server: str) -> list:
    selector = f"{ISVC_LABEL}={name},{COMPONENT_LABEL}=predictor"
    try:
        pods = core.list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
        ).items
    except Exception as exc:
        err = translate(exc, f"pods of InferenceService {namespace}/{name}", server)
        if err.status != 403:
            raise err from None
        pods = []
    return sorted(pods, key=lambda p: p.metadata.name)


def server_container(pod):
    containers = pod.spec.containers or []
    return next(
        (c for c in containers if c.name == CONTAINER), containers[0] if containers else None
    )


def container_ports(pods) -> tuple:
    """The server container's ports as ServicePorts (Knative's user port when none is declared)."""
    from tfcompare.cluster.discovery import ServicePort

    c = server_container(pods[0]) if pods else None
    declared = [p for p in (c.ports or [])] if c is not None else []
    if not declared:
        return (ServicePort("user-port", USER_PORT, str(USER_PORT), direct=True),)
    return tuple(
        ServicePort(p.name or None, int(p.container_port), str(p.container_port), direct=True)
        for p in declared
    )


def choose_protocols(version: str, images: list[str]) -> list:
    """The registered protocols for a KServe ``protocolVersion``: those whose hints claim it.
    The server's own API comes first when the predictor's image tells which server it is and that
    API is not one of KServe's protocols (TF Serving's REST API for KServe's TF Serving runtime
    over v1: the same requests, plus its metadata)."""
    from tfcompare.serving.protocols import PROTOCOLS

    claimed = [p for p in PROTOCOLS.values() if version in p.discovery.kserve]
    own = [
        p
        for p in PROTOCOLS.values()
        if not p.discovery.kserve
        and any(w in image for image in images for w in p.discovery.images)
        and any(p.transport == c.transport for c in claimed)
    ]
    return own + claimed


def model_name(isvc: dict, pods: list, kind) -> str | None:
    """The model the InferenceService serves: what its pods declare (the runtimes pass
    ``--model_name={{.Name}}``), else its name — except on Triton, which serves the models of its
    repository under their own names (None: give /MODEL)."""
    from tfcompare.cluster.servers import TRITON, declared_model

    declared = declared_model(pods, kind) if pods else None
    if declared:
        return declared
    return None if kind is TRITON else _meta(isvc, "name")


def describe(core, isvc: dict, context: str | None, server: str):
    """An InferenceService as a row of ``cluster list``."""
    from tfcompare.cluster.discovery import ServiceInfo, pods_fields, service_ports
    from tfcompare.cluster.servers import KSERVE, UNKNOWN, kind_of, pod_images

    name, ns = _meta(isvc, "name"), _meta(isvc, "namespace")
    pods = predictor_pods(core, ns, name, server)
    mode = deployment_mode(isvc, pods)
    images = [c.image or "" for c in (server_container(pods[0]),) if c] if pods else []
    kind = kind_of(images or pod_images(pods), {})
    impl, fmt, runtime = predictor(isvc)
    version = protocol_version(isvc)
    found = choose_protocols(version, images)
    notes = []
    service, ports = name, container_ports(pods)
    if mode == RAW:
        service = f"{name}-predictor"
        try:
            svc = core.read_namespaced_service(service, ns, _request_timeout=REQUEST_TIMEOUT)
            ports = service_ports(svc)
        except Exception as exc:
            notes.append(f"no service {service}: {translate(exc, service, server)}")
    elif mode == SERVERLESS:
        notes.append(
            "serverless: forwarded straight to a predictor pod (not through the activator and "
            "queue-proxy); through the ingress: ,host=" + (host(isvc) or "HOST")
        )
    else:
        notes.append("ModelMesh: reach it through its modelmesh-serving Service instead")
    if not found:
        notes.append(f"protocolVersion {version}: no protocol of tfcompare answers it")
    why = not_ready(isvc)
    if why:
        notes.append(f"not ready: {why}")
    what = kind.label if kind not in (UNKNOWN, KSERVE) else (runtime or fmt or "custom")
    info = ServiceInfo(
        name=name,
        namespace=ns,
        context=context,
        ports=ports,
        **pods_fields(pods),
        model=model_name(isvc, pods, kind),
        labels=tuple(sorted(((isvc.get("metadata") or {}).get("labels") or {}).items())),
        kind=f"KServe · {what}",
        protocols=tuple(p.name for p in found),
        service=service,
        mode=mode,
        host=host(isvc),
        note="; ".join(notes),
    )
    return info


# --------------------------------------------------------------------------- forwarding


def resolve(core, api, target, protocol: str, hints, server: str, *, metrics: bool = False):
    """For a ``k8s://NS/NAME[:PORT]`` target naming a serverless InferenceService (no usable
    Service of that name): (ready predictor pods as PodTargets, why none, the model it serves).
    None when there is no InferenceService of that name."""
    from tfcompare.cluster.discovery import PodTarget, pick_port, pod_is_ready, pod_problem
    from tfcompare.cluster.servers import kind_of

    isvc = read_inference_service(api, target.namespace, target.service, server)
    if isvc is None:
        return None
    pods = predictor_pods(core, target.namespace, target.service, server)
    kind = kind_of([c.image or "" for c in (server_container(pods[0]),)] if pods else [], {})
    model = model_name(isvc, pods, kind)
    if not pods:
        return (
            [],
            f"InferenceService {target.namespace}/{target.service} has no predictor pods "
            "(scaled to zero? minReplicas: 1 keeps one)",
            model,
        )
    ports = container_ports(pods)
    number = None
    if target.port and target.port.isdigit():
        number = int(target.port)
    elif metrics:
        annotated = (pods[0].metadata.annotations or {}).get(METRICS_PORT_ANNOTATION, "")
        if annotated.isdigit():
            number = int(annotated)
    if number is None:
        port = pick_port(ports, hints)
        number = port.port if port is not None else (hints.ports[0] if hints.ports else USER_PORT)
    sport = replace(ports[0], name=None, port=number, target_port=str(number))
    ready = [PodTarget(p.metadata.name, number, sport) for p in pods if pod_is_ready(p)]
    if ready:
        return ready, "", model
    states = ", ".join(f"{p.metadata.name} {pod_problem(p)}" for p in pods[:4])
    return [], f"0/{len(pods)} predictor pods ready ({states})", model


def cluster_local_address(api, target, server: str) -> str | None:
    """Where a pod inside the cluster reaches a serverless InferenceService: its cluster-local
    address (``status.address.url``: through the local gateway, the activator when scaled to zero,
    and queue-proxy, as its other callers), as HOST:PORT. None when there is no
    InferenceService of that name."""
    isvc = read_inference_service(api, target.namespace, target.service, server)
    if isvc is None:
        return None
    url = ((isvc.get("status") or {}).get("address") or {}).get("url")
    parts = urlsplit(url) if isinstance(url, str) and "://" in url else None
    if parts is None or not parts.hostname:
        return f"{target.service}.{target.namespace}.svc.cluster.local:80"
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
