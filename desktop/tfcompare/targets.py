"""How users write where a backend is and how to call it: the one place that knows the syntax of
``k8s://`` targets and of request headers (``NAME: VALUE``).

``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]``, optionally followed by ``/MODEL[:SIGNATURE]`` in a
backend spec. Context names may contain characters that clash with the syntax (EKS contexts are ARNs
with ``/``); such a context is written percent-encoded (``arn%3Aaws%3Aeks…%2Fname``) and decoded here.
Plain Python: the cluster package, the backend specs, the CLI and the window all parse with this.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote, unquote

PREFIX = "k8s://"
SYNTAX = "k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SEGMENT_RE = re.compile(r"^[^/\s]+$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token


class TargetError(ValueError):
    """A ``k8s://`` target or a header that cannot be used; the message says what is wrong."""


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
    """Build the ``k8s://`` text for a service (the inverse of :func:`parse_k8s`)."""
    return str(K8sTarget(namespace, service, context, str(port) if port is not None else None))


def parse_k8s(
    text: str, *, contexts: Collection[str] | None = None, with_model: bool = False
) -> tuple[K8sTarget, str | None, str | None]:
    """Parse a ``k8s://`` target → (target, model, signature); raise TargetError naming the problem.

    Without ``with_model`` the text is a target only: three parts are CONTEXT/NAMESPACE/SERVICE.
    With it, a ``/MODEL[:SIGNATURE]`` may follow, and ``k8s://A/B/C`` is ambiguous: it is read as
    CONTEXT/NAMESPACE/SERVICE when A is one of ``contexts`` (the kubeconfig's) or C carries a port,
    otherwise as NAMESPACE/SERVICE/MODEL.
    """
    if not text.startswith(PREFIX):
        raise TargetError(f"{text!r} is not a Kubernetes target (expected {PREFIX}…)")
    parts = text[len(PREFIX) :].split("/")
    most = 4 if with_model else 3
    if not 2 <= len(parts) <= most or not all(_SEGMENT_RE.match(p) for p in parts):
        raise TargetError(f"bad Kubernetes target {text!r}: expected {SYNTAX}")
    n_target = min(len(parts), 3)
    if with_model and len(parts) == 3:
        ported = ":" in parts[2] and parts[2].rsplit(":", 1)[1].isdigit()
        n_target = 3 if (contexts is not None and parts[0] in contexts) or ported else 2
    target_parts, model_parts = parts[:n_target], parts[n_target:]
    context = unquote(target_parts[0]) if n_target == 3 else None
    namespace, service = target_parts[-2], target_parts[-1]
    port: str | None = None
    if ":" in service:
        service, port = service.split(":", 1)
        named_ok = not with_model  # a backend spec gives port numbers (as it documents)
        if not port or not (port.isdigit() or (named_ok and _NAME_RE.match(port))):
            raise TargetError(f"bad port {port!r} in Kubernetes target {text!r}")
        if port.isdigit() and not 0 < int(port) < 65536:
            raise TargetError(f"port {port} in Kubernetes target {text!r} is out of range")
    for label, value in (("namespace", namespace), ("service", service)):
        if not _NAME_RE.match(value):
            raise TargetError(f"bad {label} name {value!r} in Kubernetes target {text!r}")
    model = signature = None
    if model_parts:
        model, _, signature = model_parts[0].partition(":")
        signature = signature or None
    return K8sTarget(namespace, service, context, port), model, signature


def parse_header(text: str) -> tuple[str, str]:
    """``"Authorization: Bearer x"`` → ("authorization", "Bearer x"); raise TargetError otherwise."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _HEADER_NAME_RE.match(name) or not value:
        raise TargetError(
            f"a header must look like NAME:VALUE (e.g. Authorization: Bearer TOKEN), not {text!r}"
        )
    return name.lower(), value
