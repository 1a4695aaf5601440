"""``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]`` targets: the one place that knows their syntax.

Context names may contain characters that clash with the syntax (EKS contexts are ARNs with ``/``);
such a context is written percent-encoded (``arn%3Aaws%3Aeks…%2Fname``) and decoded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from tfcompare.cluster.errors import ClusterError

PREFIX = "k8s://"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class K8sTarget:
    """A parsed ``k8s://`` target. ``port`` is a service port number or name; None means: pick the
    service's gRPC (8500 / ``grpc``) or REST (8501 / ``http`` / ``rest``) port by protocol."""

    namespace: str
    service: str
    context: str | None = None
    port: str | None = None

    def __str__(self) -> str:
        ctx = f"{quote(self.context, safe='')}/" if self.context else ""
        port = f":{self.port}" if self.port else ""
        return f"{PREFIX}{ctx}{self.namespace}/{self.service}{port}"

    @property
    def where(self) -> str:
        """Short human text: ``service tfs/tfs-cpu-1 (context kind-dev)``."""
        ctx = f" (context {self.context})" if self.context else ""
        return f"service {self.namespace}/{self.service}{ctx}"


def make_target(
    namespace: str, service: str, context: str | None = None, port: int | str | None = None
) -> str:
    """Build the ``k8s://`` text for a service (the inverse of :func:`parse_target`)."""
    return str(K8sTarget(namespace, service, context, str(port) if port is not None else None))


def parse_target(text: str) -> K8sTarget:
    """Parse a ``k8s://`` target; raise :class:`ClusterError` naming what is wrong."""
    if not text.startswith(PREFIX):
        raise ClusterError(f"{text!r} is not a Kubernetes target (expected {PREFIX}…)")
    parts = text[len(PREFIX) :].split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ClusterError(
            f"bad Kubernetes target {text!r}: expected k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]"
        )
    context = unquote(parts[0]) if len(parts) == 3 else None
    namespace, service = parts[-2], parts[-1]
    port: str | None = None
    if ":" in service:
        service, port = service.split(":", 1)
        if not port or not (port.isdigit() or _NAME_RE.match(port)):
            raise ClusterError(f"bad port {port!r} in Kubernetes target {text!r}")
        if port.isdigit() and not 0 < int(port) < 65536:
            raise ClusterError(f"port {port} in Kubernetes target {text!r} is out of range")
    for label, value in (("namespace", namespace), ("service", service)):
        if not _NAME_RE.match(value):
            raise ClusterError(f"bad {label} name {value!r} in Kubernetes target {text!r}")
    return K8sTarget(namespace=namespace, service=service, context=context, port=port)
