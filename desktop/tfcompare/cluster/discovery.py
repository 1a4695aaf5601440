"""Find TF Serving services and the ready pods behind them.

A service counts as TF Serving when it carries ``app.kubernetes.io/name=tensorflow-serving`` or
exposes 8500/8501 or a port named ``grpc``/``http``/``rest``. Readiness and resource limits come
from the pods its selector matches, so "GPU vs 1 CPU vs 8 CPU" is visible before measuring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tfcompare.cluster.cluster_errors import ClusterError, translate
from tfcompare.cluster.kube import REQUEST_TIMEOUT, api_client, resolve_context, server_of
from tfcompare.cluster.target import K8sTarget, make_target
from tfcompare.serving.backend_spec import BackendSpec

TFS_LABEL = ("app.kubernetes.io/name", "tensorflow-serving")
GRPC_PORT, REST_PORT = 8500, 8501
GRPC_NAMES = ("grpc",)
REST_NAMES = ("http", "rest")


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    target_port: str  # the pod's port: a number or a container port name


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
    """One discovered TF Serving service."""

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

    @property
    def readiness(self) -> str:
        return f"{self.ready}/{self.total}"

    @property
    def grpc_port(self) -> ServicePort | None:
        return pick_port(self.ports, "grpc")

    @property
    def rest_port(self) -> ServicePort | None:
        return pick_port(self.ports, "rest")

    def target(self, protocol: str = "grpc") -> str:
        port = pick_port(self.ports, protocol)
        return make_target(self.namespace, self.name, self.context, port.port if port else None)

    def backend_target(self, protocol: str = "grpc") -> str:
        """What ``--backend NAME=…`` takes: the target plus the model the pods declare, so the
        text works pasted as it is (``k8s://tfs/tfs-a:8500/tiny``)."""
        return self.target(protocol) + (f"/{self.model}" if self.model else "")

    def backend_spec(self, protocol: str = "grpc", name: str | None = None) -> BackendSpec:
        return BackendSpec(
            name=name or self.name,
            target=self.target(protocol),
            protocol=protocol,  # type: ignore[arg-type]
            model=self.model,
        )


def pick_port(
    ports: tuple[ServicePort, ...], protocol: str, wanted: str | None = None
) -> ServicePort | None:
    """The service port to use: ``wanted`` (number or name) if given, else by protocol."""
    if wanted is not None:
        for p in ports:
            if (wanted.isdigit() and p.port == int(wanted)) or p.name == wanted:
                return p
        return None
    number, names = (REST_PORT, REST_NAMES) if protocol == "rest" else (GRPC_PORT, GRPC_NAMES)
    for p in ports:
        if p.name in names:
            return p
    for p in ports:
        if p.port == number:
            return p
    for p in ports:  # e.g. service port 9000 -> pod port 8500 or a pod port named "grpc"
        if p.target_port == str(number) or p.target_port in names:
            return p
    return ports[0] if len(ports) == 1 else None


def is_tf_serving(labels: dict[str, str], ports: tuple[ServicePort, ...]) -> bool:
    if labels.get(TFS_LABEL[0]) == TFS_LABEL[1]:
        return True
    return any(p.port in (GRPC_PORT, REST_PORT) or p.name in GRPC_NAMES + REST_NAMES for p in ports)


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


def pod_model(pod) -> str | None:
    for c in pod.spec.containers or []:
        for arg in list(c.args or []) + list(c.command or []):
            if arg.startswith("--model_name="):
                return arg.split("=", 1)[1]
        for env in c.env or []:
            if env.name == "MODEL_NAME" and env.value:
                return env.value
    return None


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
    return sorted(ns.metadata.name for ns in items)


def check_namespace(core, namespace: str, server: str) -> None:
    """Raise a 404 ClusterError if the namespace does not exist (a 403 proves nothing: ignored)."""
    try:
        core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT)
    except Exception as exc:
        err = translate(exc, f"namespace {namespace!r}", server)
        if err.status in (401, 404, 0):
            raise err from None


def discover_services(
    context: str | None = None, namespace: str | None = None, *, all_namespaces: bool = False
) -> list[ServiceInfo]:
    """TF Serving services in ``namespace`` (default: the context's namespace, like kubectl) or in
    every namespace, each with pod readiness, resource limits and the model name when visible."""
    from kubernetes import client

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
        if ns is not None and not services:
            check_namespace(core, ns, server)
        found = []
        for svc in services:
            labels = dict(svc.metadata.labels or {})
            ports = service_ports(svc)
            if not is_tf_serving(labels, ports):
                continue
            found.append(_describe(core, svc, ports, labels, context, server))
    return sorted(found, key=lambda s: (s.namespace, s.name))


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
    """The model the pods declare (``MODEL_NAME`` / ``--model_name``): what ``cluster list`` shows
    and what a k8s backend without a model asks for."""
    return next((m for m in map(pod_model, pods) if m), None)


def _describe(core, svc, ports, labels, context: str | None, server: str) -> ServiceInfo:
    pods = service_pods(core, svc, server)
    first = pods[0] if pods else None
    return ServiceInfo(
        name=svc.metadata.name,
        namespace=svc.metadata.namespace,
        context=context,
        ports=ports,
        ready=sum(pod_is_ready(p) for p in pods),
        total=len(pods),
        limits=pod_resources(first, "limits") if first else Resources(),
        requests=pod_resources(first, "requests") if first else Resources(),
        pods=tuple(p.metadata.name for p in pods),
        model=declared_model(pods),
        labels=tuple(sorted(labels.items())),
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


def choose_port(svc, target: K8sTarget, protocol: str) -> ServicePort:
    ports = service_ports(svc)
    port = pick_port(ports, protocol, target.port)
    if port is None:
        listed = ", ".join(f"{p.name or '-'} {p.port}" for p in ports) or "none"
        want = (
            f"port {target.port}"
            if target.port
            else f"a {protocol} port (8500/grpc or 8501/http/rest)"
        )
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
        port = next((p.port for p in sl.ports or [] if (p.name or None) == sport.name), None)
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
