"""How to reach one backend (``BackendSpec``): the backend spec syntax, its checks, and the plain
data written to session files (never credentials or headers)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from tfcompare.checks import positive_number, whole_number
from tfcompare.checks import shown as _shown
from tfcompare.checks import text as _text
from tfcompare.settings import DEFAULT_TIMEOUT_S
from tfcompare.targets import PREFIX as K8S_PREFIX
from tfcompare.targets import TargetError, parse_k8s

# Options after a spec's address: ``NAME=ADDRESS,key=value,…``
OPTIONS = (
    "protocol",
    "metrics",
    "metrics-header",
    "preprocess",
    "crop",
    "labels",
    "host",
    "input",
)
_SPEC_RE = re.compile(r"^(?P<name>[^=\s,]+)=(?P<rest>[^\s,]+)(?P<options>(?:,[^,]*)*)$")
_HOSTPORT_RE = re.compile(
    r"^(?P<target>[^/\s]+:\d+)(?:/(?P<model>[^:/\s]+)(?::(?P<sig>[^/\s]+))?)?$"
)
_SCHEME_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.*)$")
SYNTAX = (
    "NAME=HOST:PORT[/MODEL[:SIGNATURE]] (TF Serving), NAME=SCHEME://HOST:PORT[/MODEL[:VERSION]] "
    "(SCHEME: v2, v2+http, kserve+http) or NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]"
    "[/MODEL[:SIGNATURE]], then optionally ,protocol=NAME ,metrics=URL|off "
    ",metrics-header=NAME:VALUE ,preprocess=PRESET ,crop=FRACTION ,labels=FILE ,host=HOST "
    ",input=bytes|DTYPE:HxWxC[:nchw]"
)
# A Host header for ingress routing: a host name or address, optionally with a port.
_HOST_RE = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$"
)


def _model_from(model: object, target: str) -> str | None:
    """The model to ask for: as given; for a k8s target without one, None (the pods' model)."""
    if model:
        return str(model)
    return None if target.startswith("k8s://") else "default"


def check_protocol(name: object) -> str:
    """A registered protocol's name; ValueError naming the known ones otherwise."""
    from tfcompare.serving import protocols

    return protocols.get(name).name


def check_version(value: object, protocol: str) -> int | str | None:
    """A model version: a whole number for TF Serving, any short label for the Open Inference
    Protocol (``"1"``, ``"v2.0"``); None for the latest."""
    from tfcompare.serving import protocols

    if value is None or value == "":
        return None
    if protocols.get(protocol).numeric_versions:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        return whole_number(value, "backend version", 0, 2**63 - 1)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise ValueError(f"backend version must be a short label, not {_shown(value)}")
    return value


def check_crop(value: object) -> float | None:
    """A centre-crop fraction in (0, 1] (the share of the shorter side kept), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"crop must be a number from 0 to 1, not {_shown(value)}") from None
    if (type(value) is int or type(value) is float) and 0 < value <= 1:
        return float(value)
    raise ValueError(f"crop must be a number above 0 and at most 1, not {_shown(value)}")


def check_host(value: object) -> str | None:
    """A Host header value (``model.default.example.com``), or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255 or not _HOST_RE.match(value):
        raise ValueError(
            f"host must be a host name such as m.default.example.com, not {_shown(value)}"
        )
    return value


def check_input(value: object, protocol: str | None = None) -> str | None:
    """What a model takes, declared by the user for servers whose metadata does not say
    (``bytes``, ``float32:224x224x3``, ``float32:224x224x3:nchw``, ``NAME:…``; see
    ``tfcompare.serving.inputs.declared_input``), or None. ``protocol``: the backend's, which
    must be one whose metadata may lack the inputs."""
    if value is None or value == "":
        return None
    from tfcompare.serving.inputs import declared_input

    if not isinstance(value, str) or len(value) > 200:
        raise ValueError(f"input must be bytes or DTYPE:HxWxC[:nchw], not {_shown(value)}")
    declared_input(value)
    if protocol is not None:
        from tfcompare.serving import protocols

        proto = protocols.get(protocol)
        if not proto.declared_input:
            takers = ", ".join(p.name for p in protocols.PROTOCOLS.values() if p.declared_input)
            raise ValueError(
                f"input= is for servers whose metadata may not say what the model takes "
                f"({takers}); {proto.label} metadata always does"
            )
    return value.strip()


def check_preprocess(value: object) -> str | None:
    """A preprocessing preset's name (see tfcompare.imaging.preprocess), or None (the default)."""
    if value is None or value == "":
        return None
    from tfcompare.imaging.preprocess import preset_names

    if not isinstance(value, str) or value.lower() not in preset_names():
        raise ValueError(
            f"preprocess must be one of {', '.join(preset_names())}, not {_shown(value)}"
        )
    return value.lower()


@dataclass(frozen=True)
class BackendSpec:
    """How to reach one backend (a TF Serving deployment, or a server speaking another
    registered protocol).

    ``target`` is ``host:port`` or ``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]``; ``protocol`` the
    name of a registered protocol (``tfcompare.serving.protocols``).
    ``model`` None (k8s targets only) means: the model the service's pods declare (``MODEL_NAME``
    or ``--model_name``), found when the port-forward opens; ``"default"`` if they declare none.
    ``signature`` None means: discover it from the model's metadata.
    ``headers`` (e.g. an auth header) are used for calls but never written to session files; they
    go to the backend only. ``metrics_headers`` likewise, for the metrics page only (a discovered
    page on another origin never gets ``headers``).
    ``metrics`` is where the server's Prometheus metrics are read: None = discovered (the REST
    port beside gRPC, or the service's http port through the forward), ``"off"``, or a URL.
    ``preprocess`` and ``crop`` say how an image becomes the tensor a tensor-input model takes
    (None: the default, see tfcompare.imaging.preprocess); ``labels`` is a class-names file for
    models that answer class ids or score vectors; ``host_header`` the Host header sent (ingress
    routing: Istio, Knative).
    """

    name: str
    target: str
    protocol: str = "grpc"
    model: str | None = "default"
    signature: str | None = None
    version: int | str | None = None
    timeout_s: float | None = None  # None: the run settings' timeout
    tls_ca: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    metrics: str | None = None
    preprocess: str | None = None
    crop: float | None = None
    labels: str | None = None
    host_header: str | None = None
    metrics_headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    input: str | None = None

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

    @property
    def protocol_info(self):
        """This backend's protocol object (``tfcompare.serving.protocols``)."""
        from tfcompare.serving import protocols

        return protocols.get(self.protocol)

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
            "preprocess": self.preprocess,
            "crop": self.crop,
            "labels": self.labels,
            "host_header": self.host_header,
            "input": self.input,
        }

    @classmethod
    def from_dict(cls, d: dict) -> BackendSpec:
        """Rebuild from ``to_dict``'s data (a session, a JSON run file, the preferences): every
        field is type-checked, so a crafted file gives a ValueError naming the field."""
        if not isinstance(d, dict):
            raise ValueError(f"a backend must be an object, not {_shown(d)}")
        protocol = check_protocol(d.get("protocol", "grpc"))
        target = _text(d.get("target"), "backend target")
        return cls(
            name=_text(d.get("name"), "backend name"),
            target=target,
            protocol=protocol,
            model=_model_from(_text(d.get("model"), "backend model", optional=True), target),
            signature=_text(d.get("signature"), "backend signature", optional=True),
            version=check_version(d.get("version"), protocol),
            timeout_s=None
            if d.get("timeout_s") is None
            else positive_number(d["timeout_s"], "backend timeout_s"),
            tls_ca=_text(d.get("tls_ca"), "backend tls_ca", optional=True),
            metrics=_metrics(d.get("metrics")),
            preprocess=check_preprocess(d.get("preprocess")),
            crop=check_crop(d.get("crop")),
            labels=_text(d.get("labels"), "backend labels", optional=True),
            host_header=check_host(d.get("host_header")),
            input=check_input(d.get("input"), protocol),
        )

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        protocol: str = "grpc",
        timeout_s: float | None = None,
        contexts: Collection[str] | None = None,
    ) -> BackendSpec:
        """Parse a backend spec (see ``SYNTAX``): the address — ``HOST:PORT[/MODEL[:SIGNATURE]]``
        for TF Serving (``protocol``: gRPC unless told REST), ``SCHEME://HOST:PORT[/MODEL
        [:VERSION]]`` for a protocol with a scheme (``v2://``…), or
        ``k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]]`` — then options
        ``,key=value`` (``protocol``, ``metrics``, ``metrics-header``, ``preprocess``, ``crop``,
        ``labels``, ``host``, ``input``).

        ``contexts`` (the kubeconfig's context names) settles ``k8s://A/B/C``: see
        ``tfcompare.targets.parse_k8s``.
        Raises ValueError with a message naming the problem.
        """
        from tfcompare.serving import protocols
        from tfcompare.targets import parse_header

        text = text.strip()
        problem = ValueError(f"bad backend {text!r}: expected {SYNTAX}")
        m = _SPEC_RE.match(text)
        if not m:
            raise problem
        options: dict[str, str] = {}
        metrics_headers: list[tuple[str, str]] = []
        for item in m["options"].split(",")[1:]:
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or key not in OPTIONS:
                raise ValueError(
                    f"bad backend {text!r}: unknown option {item!r} (options: "
                    f"{', '.join(k + '=' for k in OPTIONS)})"
                )
            if key == "metrics-header":
                try:
                    metrics_headers.append(parse_header(value))
                except ValueError as exc:
                    raise ValueError(f"bad backend {text!r}: {exc}") from None
                continue
            if key in options:
                raise ValueError(f"bad backend {text!r}: option {key}= given twice")
            options[key] = value.strip()
        rest = m["rest"]
        try:
            metrics = check_metrics_source(options["metrics"]) if "metrics" in options else None
            crop = check_crop(options.get("crop"))
            preprocess = check_preprocess(options.get("preprocess"))
            host = check_host(options.get("host"))
            if "protocol" in options:
                protocol = check_protocol(options["protocol"])
        except ValueError as exc:
            raise ValueError(f"bad backend {text!r}: {exc}") from None
        version: int | str | None = None
        scheme = _SCHEME_RE.match(rest)
        if rest.startswith(K8S_PREFIX):
            try:
                k8s, model, sig = parse_k8s(rest, contexts=contexts, with_model=True)
            except TargetError:
                raise problem from None
            target = str(k8s)
        else:
            if scheme is not None:
                found = protocols.by_scheme(scheme["scheme"])
                if found is None:
                    known = ", ".join(
                        f"{p.scheme}://" for p in protocols.PROTOCOLS.values() if p.scheme
                    )
                    raise ValueError(
                        f"bad backend {text!r}: unknown scheme {scheme['scheme']}:// "
                        f"(known: {known or 'none'}; TF Serving takes HOST:PORT)"
                    )
                if "protocol" in options and options["protocol"] != found.name:
                    raise ValueError(
                        f"bad backend {text!r}: the scheme says {found.name}, protocol= says "
                        f"{options['protocol']}"
                    )
                protocol, rest = found.name, scheme["rest"]
            hp = _HOSTPORT_RE.match(rest)
            if not hp:
                raise problem
            target, model, sig = hp["target"], hp["model"], hp["sig"]
            port = int(target.rsplit(":", 1)[1])
            if not 0 < port < 65536:
                raise ValueError(f"bad backend {text!r}: port {port} is out of range")
        if sig is not None and not protocols.get(protocol).numeric_versions:
            version, sig = sig, None  # MODEL:VERSION for protocols without signatures
        try:
            version = check_version(version, protocol)
            declared = check_input(options.get("input"), protocol)
        except ValueError as exc:
            raise ValueError(f"bad backend {text!r}: {exc}") from None
        return cls(
            name=m["name"].strip(),
            target=target,
            protocol=protocol,
            model=_model_from(model, target),
            signature=sig,
            version=version,
            timeout_s=timeout_s,
            metrics=metrics or None,
            preprocess=preprocess,
            crop=crop,
            labels=options.get("labels") or None,
            host_header=host,
            metrics_headers=tuple(metrics_headers),
            input=declared,
        )

    def spec_text(self) -> str:
        """This backend as ``--backend`` takes it (no headers: they are never written out)."""
        from tfcompare.serving import protocols

        proto = protocols.get(self.protocol)
        address = self.target
        if not self.is_k8s and proto.scheme:
            address = f"{proto.scheme}://{address}"
        if self.model and self.model != "default" or (self.model and self.signature):
            address += f"/{self.model}"
            if self.signature:
                address += f":{self.signature}"
            elif self.version is not None and not proto.numeric_versions:
                address += f":{self.version}"
        options = []
        if self.is_k8s or not proto.scheme:
            if self.protocol != protocols.DEFAULT:
                options.append(f"protocol={self.protocol}")
        for key, value in (
            ("metrics", self.metrics),
            ("preprocess", self.preprocess),
            ("crop", None if self.crop is None else f"{self.crop:g}"),
            ("labels", self.labels),
            ("host", self.host_header),
            ("input", self.input),
        ):
            if value:
                options.append(f"{key}={value}")
        return f"{self.name}={address}" + "".join("," + o for o in options)


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
