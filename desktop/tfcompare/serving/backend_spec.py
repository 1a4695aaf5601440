"""How to reach one backend (``BackendSpec``): the backend spec syntax, its checks, and the plain
data written to session files (never credentials or headers)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Literal

from tfcompare.checks import positive_number, whole_number
from tfcompare.checks import shown as _shown
from tfcompare.checks import text as _text
from tfcompare.settings import DEFAULT_TIMEOUT_S
from tfcompare.targets import PREFIX as K8S_PREFIX
from tfcompare.targets import TargetError, parse_k8s

Protocol = Literal["grpc", "rest"]

_SPEC_RE = re.compile(r"^(?P<name>[^=\s]+)=(?P<rest>\S+)$")
_HOSTPORT_RE = re.compile(
    r"^(?P<target>[^/\s]+:\d+)(?:/(?P<model>[^:/\s]+)(?::(?P<sig>[^/\s]+))?)?$"
)


def _model_from(model: object, target: str) -> str | None:
    """The model to ask for: as given; for a k8s target without one, None (the pods' model)."""
    if model:
        return str(model)
    return None if target.startswith("k8s://") else "default"


@dataclass(frozen=True)
class BackendSpec:
    """How to reach one TF Serving deployment.

    ``target`` is ``host:port`` or ``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]``.
    ``model`` None (k8s targets only) means: the model the service's pods declare (``MODEL_NAME``
    or ``--model_name``), found when the port-forward opens; ``"default"`` if they declare none.
    ``signature`` None means: discover it from the model's metadata.
    ``headers`` (e.g. an auth header) are used for calls but never written to session files.
    ``metrics`` is where the server's Prometheus metrics are read: None = discovered (the REST
    port beside gRPC, or the service's http port through the forward), ``"off"``, or a URL.
    """

    name: str
    target: str
    protocol: Protocol = "grpc"
    model: str | None = "default"
    signature: str | None = None
    version: int | None = None
    timeout_s: float | None = None  # None: the run settings' timeout
    tls_ca: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    metrics: str | None = None

    @property
    def deadline_s(self) -> float:
        """Seconds per request: this backend's own timeout, else the default settings'."""
        return DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s

    def with_default_timeout(self, seconds: float) -> BackendSpec:
        """This backend with the run settings' timeout, unless it has its own (which wins)."""
        return self if self.timeout_s is not None else replace(self, timeout_s=seconds)

    @property
    def is_k8s(self) -> bool:
        return self.target.startswith(K8S_PREFIX)

    def to_dict(self) -> dict:
        """Plain data for session files and JSON: never credentials or headers."""
        return {
            "name": self.name,
            "target": self.target,
            "protocol": self.protocol,
            "model": self.model,
            "signature": self.signature,
            "version": self.version,
            "timeout_s": self.timeout_s,
            "tls_ca": self.tls_ca,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: dict) -> BackendSpec:
        """Rebuild from ``to_dict``'s data (a session, a JSON run file, the preferences): every
        field is type-checked, so a crafted file gives a ValueError naming the field."""
        protocol = d.get("protocol", "grpc")
        if protocol not in ("grpc", "rest"):
            raise ValueError(f"backend protocol must be grpc or rest, not {_shown(protocol)}")
        version = d.get("version")
        if version is not None:
            version = whole_number(version, "backend version", 0, 2**63 - 1)
        return cls(
            name=_text(d.get("name"), "backend name"),
            target=_text(d.get("target"), "backend target"),
            protocol=protocol,
            model=_model_from(
                _text(d.get("model"), "backend model", optional=True),
                _text(d.get("target"), "backend target"),
            ),
            signature=_text(d.get("signature"), "backend signature", optional=True),
            version=version,
            timeout_s=None
            if d.get("timeout_s") is None
            else positive_number(d["timeout_s"], "backend timeout_s"),
            tls_ca=_text(d.get("tls_ca"), "backend tls_ca", optional=True),
            metrics=_metrics(d.get("metrics")),
        )

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        protocol: Protocol = "grpc",
        timeout_s: float | None = None,
        contexts: Collection[str] | None = None,
    ) -> BackendSpec:
        """Parse ``NAME=HOST:PORT[/MODEL[:SIGNATURE]]`` or
        ``NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]]``, optionally followed
        by ``,metrics=URL`` or ``,metrics=off`` (where the server's Prometheus metrics are read).

        ``contexts`` (the kubeconfig's context names) settles ``k8s://A/B/C``: see
        ``tfcompare.targets.parse_k8s``.
        Raises ValueError with a message naming the problem.
        """
        problem = ValueError(
            f"bad backend {text!r}: expected NAME=HOST:PORT[/MODEL[:SIGNATURE]] "
            "or NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]], "
            "optionally followed by ,metrics=URL or ,metrics=off"
        )
        text, sep, metrics = text.strip().partition(",metrics=")
        if sep:
            try:
                metrics = check_metrics_source(metrics)
            except ValueError as exc:
                raise ValueError(f"bad backend {text!r}: {exc}") from None
        m = _SPEC_RE.match(text)
        if not m:
            raise problem
        rest = m["rest"]
        if rest.startswith(K8S_PREFIX):
            try:
                k8s, model, sig = parse_k8s(rest, contexts=contexts, with_model=True)
            except TargetError:
                raise problem from None
            target = str(k8s)
        else:
            hp = _HOSTPORT_RE.match(rest)
            if not hp:
                raise problem
            target, model, sig = hp["target"], hp["model"], hp["sig"]
            port = int(target.rsplit(":", 1)[1])
            if not 0 < port < 65536:
                raise ValueError(f"bad backend {text!r}: port {port} is out of range")
        return cls(
            name=m["name"].strip(),
            target=target,
            protocol=protocol,
            model=_model_from(model, target),
            signature=sig,
            timeout_s=timeout_s,
            metrics=metrics or None,
        )


METRICS_OFF = "off"


def check_metrics_source(text: str) -> str:
    """``off`` or an http(s) URL without credentials; raises ValueError naming the problem."""
    from urllib.parse import urlsplit

    text = text.strip()
    if text.lower() == METRICS_OFF:
        return METRICS_OFF
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(
            f"metrics source {text!r} is not usable: give an http(s) URL such as "
            "http://HOST:8501/monitoring/prometheus/metrics, or 'off'"
        )
    if url.username or url.password:
        raise ValueError(
            "a metrics URL must not carry a user name or password (session files would keep "
            "it): use --header for credentials"
        )
    return text


def _metrics(value: object) -> str | None:
    text = _text(value, "backend metrics", optional=True)
    return check_metrics_source(text) if text else None
