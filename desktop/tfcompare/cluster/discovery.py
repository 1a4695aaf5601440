"""Find model servers in a cluster — TF Serving, Triton, MLServer services and KServe
InferenceServices — and the ready pods behind them.

A service counts when its pods' images, its labels, its port numbers or (last) its port names
match the discovery hints of a registered protocol (``tfcompare.serving.protocols``); the
protocols it can be measured over are those it has a port for, most preferred first. Readiness and
resource limits come from the pods its selector matches, so "GPU vs 1 CPU vs 8 CPU" is visible
before measuring. InferenceServices are listed through the CustomObjects API
(``tfcompare.cluster.kserve``); the services KServe and Knative create for them are not listed
twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tfcompare.cluster.cluster_errors import ClusterError, translate
from tfcompare.cluster.kube import REQUEST_TIMEOUT, api_client, resolve_context, server_of
from tfcompare.cluster.servers import (
    UNKNOWN,
    kind_of,
    kind_speaking,
    pod_images,
    protocol_candidates,
)
from tfcompare.cluster.servers import declared_model as _declared_model
from tfcompare.cluster.target import K8sTarget, make_target
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.protocols import DEFAULT, DiscoveryHints
from tfcompare.serving.protocols import get as get_protocol

ISVC_LABEL = "serving.kserve.io/inferenceservice"


@dataclass(frozen=True)
class ServicePort:
    """A service port, or with ``direct`` a pod's own port (``port`` = ``target_port``): what a
    forward uses for a port the service does not expose (metrics) and for InferenceService pods."""

    name: str | None
    port: int
    target_port: str  # the pod's port: a number or a container port name
    direct: bool = False


@dataclass(frozen=True)
class Resources:
    """Container resources of a pod (summed over its containers), as Kubernetes quantities."""

    cpu: str | None = None
    memory: str | None = None
    gpu: str | None = None  # nvidia.com/gpu

    @property
    def text(self) -> str:
        parts = [
            f"{k} {v}" for k, v in (("GPU", self.gpu), ("CPU", self.cpu), ("mem", self.memory)) if v
        ]
        return ", ".join(parts) if parts else "none"


@dataclass(frozen=True)
class ServiceInfo:
    """One discovered model server: a Service, or a KServe InferenceService.

    ``kind`` names the server (TF Serving, Triton, MLServer, KServe · Triton …); ``protocols``
    the registered protocols it can be measured over, most preferred first (``protocol``).
    ``service`` is what a ``k8s://`` target names (the Service; for a serverless
    InferenceService the InferenceService itself: the forward goes straight to a predictor pod).
    ``mode`` is KServe's deployment mode (``raw`` or ``serverless``), ``host`` the host name its
    ingress routes by (``,host=`` for going through the ingress); ``note`` says what else to
    know."""

    name: str
    namespace: str
    context: str | None
    ports: tuple[ServicePort, ...]
    ready: int  # pods ready
    total: int  # pods matched by the selector
    limits: Resources = Resources()
    requests: Resources = Resources()
    pods: tuple[str, ...] = ()
    model: str | None = None  # from the pods' MODEL_NAME / --model_name, when set
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    kind: str = "TF Serving"
    protocols: tuple[str, ...] = (DEFAULT,)
    service: str | None = None  # the k8s:// target's SERVICE when it is not ``name``
    mode: str | None = None
    host: str | None = None
    note: str = ""

    @property
    def readiness(self) -> str:
        return f"{self.ready}/{self.total}"

    @property
    def protocol(self) -> str:
        """The protocol a backend made from this service uses unless told otherwise."""
        return self.protocols[0] if self.protocols else DEFAULT

    def speaks(self, protocol: str) -> bool:
        return protocol in self.protocols

    def port_for(self, protocol: str | None = None) -> ServicePort | None:
        """The port a backend over ``protocol`` (default: ``protocol``) goes to."""
        return pick_port(self.ports, get_protocol(protocol or self.protocol).discovery)

    def target(self, protocol: str | None = None) -> str:
        port = self.port_for(protocol)
        return make_target(
            self.namespace, self.service or self.name, self.context, port.port if port else None
        )

    def backend_spec(self, protocol: str | None = None, name: str | None = None) -> BackendSpec:
        protocol = protocol or self.protocol
        return BackendSpec(
            name=name or self.name,
            target=self.target(protocol),
            protocol=protocol,
            model=self.model,
        )

    def backend_target(self, protocol: str | None = None) -> str:
        """What ``--backend NAME=…`` takes, pasted as it is: the target, the model the pods
        declare and the protocol when it is not the default
        (``k8s://ml/triton:8001/inception-v3,protocol=v2``)."""
        return self.backend_spec(protocol, name="x").spec_text().split("=", 1)[1]

    @property
    def protocol_labels(self) -> str:
        return ", ".join(self.protocols) or "-"


def pick_port(
    ports: tuple[ServicePort, ...], hints: DiscoveryHints, wanted: str | None = None
) -> ServicePort | None:
    """The service port to use: ``wanted`` (number or name) if given, else the first that the
    protocol's ``hints`` name (port names, then numbers, then the pod ports behind them)."""
    if wanted is not None:
        for p in ports:
            if (wanted.isdigit() and p.port == int(wanted)) or p.name == wanted:
                return p
        return None
    for name in hints.port_names:
        for p in ports:
            if p.name == name:
                return p
    for number in hints.ports:
        for p in ports:
            if p.port == number:
                return p
    for p in ports:  # e.g. service port 9000 -> pod port 8500 or a pod port named "grpc"
        if (p.target_port.isdigit() and int(p.target_port) in hints.ports) or (
            p.target_port in hints.port_names
        ):
            return p
    return ports[0] if len(ports) == 1 else None


# --------------------------------------------------------------------------- object helpers


def service_ports(svc) -> tuple[ServicePort, ...]:
    return tuple(
        ServicePort(name=p.name or None, port=int(p.port), target_port=str(p.target_port or p.port))
        for p in (svc.spec.ports or [])
    )


def selector_text(selector: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items()))


def pod_is_ready(pod) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def pod_problem(pod) -> str:
    """Why a pod is not ready, in a few words (Pending, CrashLoopBackOff, terminating …)."""
    if pod.metadata.deletion_timestamp is not None:
        return "terminating"
    for cs in (pod.status.container_statuses or []) if pod.status else []:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason:
            return waiting.reason
    phase = pod.status.phase if pod.status else None
    return "not ready" if phase in (None, "Running") else str(phase)


def _total(values: list[str]) -> Decimal | str | None:
    """Kubernetes quantities summed (``500m`` + ``1`` = 1.5); the texts joined if one is not a
    quantity."""
    from kubernetes.utils import parse_quantity

    if not values:
        return None
    try:
        return sum((parse_quantity(v) for v in values), Decimal(0))
    except ValueError:
        return "+".join(values)


def _number(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def cpu_text(total: Decimal) -> str:
    """CPU cores as people write them: ``500m`` below one core, else ``1.5``."""
    return f"{_number(total * 1000)}m" if total < 1 else _number(total)


def memory_text(total: Decimal) -> str:
    """Bytes in binary units: ``512Mi``, ``1.5Gi``."""
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if total >= size:
            return f"{_number(total / size)}{unit}"
    return _number(total)


def pod_resources(pod, kind: str) -> Resources:
    """A pod's resources of one kind (limits/requests), summed over its containers."""
    found: dict[str, list[str]] = {"cpu": [], "memory": [], "nvidia.com/gpu": []}
    for c in pod.spec.containers or []:
        res = (getattr(c.resources, kind, None) if c.resources else None) or {}
        for key, values in found.items():
            if res.get(key):
                values.append(str(res[key]))
    cpu, memory, gpu = (_total(found[k]) for k in ("cpu", "memory", "nvidia.com/gpu"))
    return Resources(
        cpu=cpu_text(cpu) if isinstance(cpu, Decimal) else cpu,
        memory=memory_text(memory) if isinstance(memory, Decimal) else memory,
        gpu=_number(gpu) if isinstance(gpu, Decimal) else gpu,
    )


def pods_fields(pods: list) -> dict:
    """What a ``cluster list`` row says of a target's pods: how many are ready of how many, their
    names, and the first pod's resources (the pods of one target share a template)."""
    first = pods[0] if pods else None
    return dict(
        ready=sum(pod_is_ready(p) for p in pods),
        total=len(pods),
        limits=pod_resources(first, "limits") if first else Resources(),
        requests=pod_resources(first, "requests") if first else Resources(),
        pods=tuple(p.metadata.name for p in pods),
    )


def container_port(pod, name: str) -> int | None:
    for c in pod.spec.containers or []:
        for p in c.ports or []:
            if p.name == name:
                return int(p.container_port)
    return None


# --------------------------------------------------------------------------- discovery


def list_namespaces(context: str | None = None) -> list[str]:
    """Namespace names (for pickers). Raises ClusterError (403 is common for namespaced users)."""
    from kubernetes import client

    with api_client(context) as api:
        try:
            items = client.CoreV1Api(api).list_namespace(_request_timeout=REQUEST_TIMEOUT).items
        except Exception as exc:
            raise translate(exc, "the namespace list", server_of(api)) from None
    return sorted(ns.metadata.name for ns in items if ns.metadata and ns.metadata.name)


def check_namespace(core, namespace: str, server: str) -> None:
    """Raise a 404 ClusterError if the namespace does not exist (a 403 proves nothing: ignored)."""
    try:
        core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT)
    except Exception as exc:
        err = translate(exc, f"namespace {namespace!r}", server)
        if err.status in (401, 404, 0):
            raise err from None


@dataclass
class Discovery:
    """What a look at a namespace (or all) found: the servers, and notes on what could not be
    looked at (e.g. InferenceServices when listing them is forbidden)."""

    services: list[ServiceInfo]
    notes: list[str] = field(default_factory=list)


def discover_services(
    context: str | None = None, namespace: str | None = None, *, all_namespaces: bool = False
) -> list[ServiceInfo]:
    """The model servers in ``namespace`` (default: the context's namespace, like kubectl) or in
    every namespace: see :func:`discover`."""
    return discover(context, namespace, all_namespaces=all_namespaces).services


def discover(
    context: str | None = None, namespace: str | None = None, *, all_namespaces: bool = False
) -> Discovery:
    """Model-server services and KServe InferenceServices in ``namespace`` (default: the
    context's namespace, like kubectl) or in every namespace, each with its server kind,
    protocols, pod readiness, resource limits and the model when visible."""
    from kubernetes import client

    from tfcompare.cluster import kserve

    ctx = resolve_context(context)
    ns = None if all_namespaces else (namespace or ctx.namespace)
    where = "all namespaces" if ns is None else f"namespace {ns!r}"
    with api_client(ctx.name) as api:
        core = client.CoreV1Api(api)
        server = server_of(api)
        try:
            if ns is None:
                services = core.list_service_for_all_namespaces(
                    _request_timeout=REQUEST_TIMEOUT
                ).items
            else:
                services = core.list_namespaced_service(ns, _request_timeout=REQUEST_TIMEOUT).items
        except Exception as exc:
            raise translate(exc, f"services in {where}", server) from None
        isvcs, notes = kserve.list_inference_services(api, ns, server)
        if ns is not None and not services and not isvcs:
            check_namespace(core, ns, server)
        found = []
        for svc in services:
            labels = dict((svc.metadata.labels if svc.metadata else None) or {})
            if labels.get(ISVC_LABEL) or _owned_by_isvc(svc):
                continue  # KServe's and Knative's services: listed as their InferenceService
            info = _describe(core, svc, labels, context, server)
            if info is not None:
                found.append(info)
        for isvc in isvcs:
            found.append(kserve.describe(core, isvc, context, server))
    found.sort(key=lambda s: (s.namespace, s.name))
    return Discovery(found, notes)


def _owned_by_isvc(svc) -> bool:
    return any(o.kind == "InferenceService" for o in svc.metadata.owner_references or [])


def service_pods(core, svc, server: str) -> list:
    """The pods the service's selector matches, by name (none when listing them is forbidden)."""
    sel = selector_text(svc.spec.selector)
    if not sel:
        return []
    try:
        pods = core.list_namespaced_pod(
            svc.metadata.namespace, label_selector=sel, _request_timeout=REQUEST_TIMEOUT
        ).items
    except Exception as exc:
        err = translate(
            exc, f"pods of service {svc.metadata.namespace}/{svc.metadata.name}", server
        )
        if err.status != 403:
            raise err from None
        pods = []
    return sorted(pods, key=lambda p: p.metadata.name)


def declared_model(pods) -> str | None:
    """The model the pods declare (see ``tfcompare.cluster.servers.declared_model``)."""
    return _declared_model(pods, kind_of(pod_images(pods), {}) if pods else None)


def _describe(core, svc, labels, context: str | None, server: str) -> ServiceInfo | None:
    """The service as a model server, or None when nothing says it is one."""
    ports = service_ports(svc)
    if not ports:
        return None
    pods = service_pods(core, svc, server)
    images = pod_images(pods)
    pod_labels = dict(pods[0].metadata.labels or {}) if pods else {}
    kind = kind_of(images, {**pod_labels, **labels})
    known = kind is not UNKNOWN
    candidates = protocol_candidates(images, {**pod_labels, **labels}, ports, known=known)
    if not candidates and not known:
        return None
    if not known:
        kind = kind_speaking(candidates[0])
    return ServiceInfo(
        name=svc.metadata.name,
        namespace=svc.metadata.namespace,
        context=context,
        ports=ports,
        **pods_fields(pods),
        model=_declared_model(pods, kind),
        labels=tuple(sorted(labels.items())),
        kind=kind.label,
        protocols=tuple(p.name for p in candidates),
    )


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class PodTarget:
    """Where a forward goes: a ready pod and the pod's port number."""

    pod: str
    port: int
    service_port: ServicePort


def read_service(core, target: K8sTarget, server: str):
    try:
        return core.read_namespaced_service(
            target.service, target.namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except Exception as exc:
        err = translate(exc, target.where, server)
        if err.status == 404:
            check_namespace(core, target.namespace, server)
            raise ClusterError(
                f"no service {target.service!r} in namespace {target.namespace!r} (404)"
                + (f" of context {target.context!r}" if target.context else ""),
                404,
            ) from None
        raise err from None


def choose_port(
    svc, target: K8sTarget, protocol: str, hints: DiscoveryHints | None = None
) -> ServicePort:
    """The service port a forward (or an in-cluster agent) goes to: ``target.port`` when given,
    else the one ``hints`` name (default: the protocol's discovery hints)."""
    ports = service_ports(svc)
    hints = hints or get_protocol(protocol).discovery
    port = pick_port(ports, hints, target.port)
    if port is None:
        listed = ", ".join(f"{p.name or '-'} {p.port}" for p in ports) or "none"
        if target.port:
            want = f"port {target.port}"
        else:
            names = "/".join(hints.port_names)
            numbers = "/".join(map(str, hints.ports))
            want = f"{protocol} port ({numbers} or named {names})"
        raise ClusterError(f"{target.where} has no {want}; its ports: {listed}")
    return port


def ready_pods(
    core, discovery, svc, sport: ServicePort, server: str
) -> tuple[list[PodTarget], str]:
    """Ready pods behind the service (EndpointSlices, else the selector) and, when there are none,
    a short explanation."""
    ns, name = svc.metadata.namespace, svc.metadata.name
    try:
        slices = discovery.list_namespaced_endpoint_slice(
            ns,
            label_selector=f"kubernetes.io/service-name={name}",
            _request_timeout=REQUEST_TIMEOUT,
        ).items
    except Exception as exc:
        err = translate(exc, f"endpointslices of service {ns}/{name}", server)
        if err.status not in (403, 404):
            raise err from None
        slices = None
    found: dict[str, PodTarget] = {}
    for sl in slices or []:
        port = (
            int(sport.target_port)
            if sport.direct
            else next((p.port for p in sl.ports or [] if (p.name or None) == sport.name), None)
        )
        for ep in sl.endpoints or []:
            ref = ep.target_ref
            ready = ep.conditions.ready if ep.conditions else None
            terminating = ep.conditions.terminating if ep.conditions else None
            if ref is None or ref.kind != "Pod" or ready is False or terminating:
                continue
            if port is not None:
                found[ref.name] = PodTarget(ref.name, int(port), sport)
    if found:
        return [found[k] for k in sorted(found)], ""
    pods = []
    if svc.spec.selector:
        try:
            pods = core.list_namespaced_pod(
                ns,
                label_selector=selector_text(svc.spec.selector),
                _request_timeout=REQUEST_TIMEOUT,
            ).items
        except Exception as exc:
            if slices is None:
                raise translate(exc, f"pods of service {ns}/{name}", server) from None
    if slices is None or not slices:
        for pod in pods:
            if not pod_is_ready(pod):
                continue
            tp = sport.target_port
            number = int(tp) if tp.isdigit() else container_port(pod, tp)
            if number is not None:
                found[pod.metadata.name] = PodTarget(pod.metadata.name, number, sport)
    if found:
        return [found[k] for k in sorted(found)], ""
    if not svc.spec.selector and not slices:
        return [], "the service has no selector and no endpoints"
    if not pods:
        return [], f"no pods match its selector {selector_text(svc.spec.selector)!r}"
    states = ", ".join(
        f"{p.metadata.name} {pod_problem(p)}"
        for p in sorted(pods, key=lambda p: p.metadata.name)[:4]
    )
    return [], f"0/{len(pods)} pods ready ({states})"


def pod_port(svc, core, hints: DiscoveryHints, server: str) -> ServicePort | None:
    """A pod port for ``hints`` that the service does not expose (Triton's metrics port 8002
    behind a service with only 8000/8001): the pods' declared container port, else the hints'
    first number. None when the hints have no number."""
    if not hints.ports:
        return None
    number = hints.ports[0]
    for pod in service_pods(core, svc, server)[:1]:
        declared = [int(p.container_port) for c in pod.spec.containers or [] for p in c.ports or []]
        number = next((n for n in hints.ports if n in declared), number)
    return ServicePort(None, number, str(number), direct=True)


@dataclass(frozen=True)
class Resolved:
    """Where a forward goes now: the ready pods (or why none), the port used and, for a target
    without a model, the model its pods declare."""

    pods: list[PodTarget]
    why: str
    port: ServicePort | None
    model: str | None


def resolve(
    core,
    slices,
    api,
    target: K8sTarget,
    protocol: str,
    server: str,
    *,
    hints: DiscoveryHints | None = None,
    metrics: bool = False,
    with_model: bool = False,
) -> Resolved:
    """Resolve a ``k8s://`` target to ready pods. A Service is used through its selector /
    EndpointSlices and the port ``hints`` name (default: the protocol's discovery hints; with
    ``metrics``, a pod port the service lacks is used directly). A name with no usable Service
    (none, or an ExternalName without selector, as Knative and KServe make) that names a
    serverless KServe InferenceService goes straight to its ready predictor pods. ``with_model``:
    also read the model the pods declare."""
    from tfcompare.cluster import kserve

    hints = hints or get_protocol(protocol).discovery
    svc = None
    missing: ClusterError | None = None
    try:
        svc = read_service(core, target, server)
    except ClusterError as exc:
        if exc.status != 404:
            raise
        missing = exc
    if svc is None or (not svc.spec.selector and svc.spec.type == "ExternalName"):
        found = kserve.resolve(core, api, target, protocol, hints, server, metrics=metrics)
        if found is not None:
            pods, why, model = found
            return Resolved(pods, why, pods[0].service_port if pods else None, model)
        if missing is not None:
            raise missing
    sport: ServicePort | None
    try:
        sport = choose_port(svc, target, protocol, hints)
    except ClusterError:
        sport = pod_port(svc, core, hints, server) if metrics and not target.port else None
        if sport is None:
            raise
    pods, why = ready_pods(core, slices, svc, sport, server)
    model = declared_model(service_pods(core, svc, server)) if with_model else None
    return Resolved(pods, why, sport, model)
