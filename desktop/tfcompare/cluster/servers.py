"""Which model server a Kubernetes workload runs and which protocols it can be measured over.

The protocols come from the registry's discovery hints (``tfcompare.serving.protocols``: images,
labels, port numbers and names): nothing here names a protocol. The server *kind* (TF Serving,
Triton, MLServer, KServe) is what people call it, shown beside each service, plus how each kind
declares the model it serves (arguments, environment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tfcompare.serving.protocols.base import DiscoveryHints


@dataclass(frozen=True)
class ServerKind:
    """A model server as people know it: ``images`` (substrings of container images) and
    ``labels`` recognise it; ``model_args`` (``--flag=`` prefixes) and ``model_env`` (variable
    names) are where its pods declare the model they serve."""

    label: str
    images: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    model_args: tuple[str, ...] = ()
    model_env: tuple[str, ...] = ()


TF_SERVING = ServerKind(
    "TF Serving",
    images=("tensorflow/serving", "tensorflow_model_server"),
    labels=(("app.kubernetes.io/name", "tensorflow-serving"),),
    model_args=("--model_name=",),
    model_env=("MODEL_NAME",),
)
TRITON = ServerKind(
    "Triton",
    images=("tritonserver",),
    labels=(("app.kubernetes.io/name", "triton-inference-server"),),
    # --model-control-mode=explicit with --load-model=NAME names the model it serves
    model_args=("--load-model=",),
)
MLSERVER = ServerKind(
    "MLServer",
    images=("mlserver",),
    labels=(("app.kubernetes.io/name", "mlserver"),),
    model_env=("MLSERVER_MODEL_NAME",),
)
KSERVE = ServerKind("KServe", images=("kserve/",), model_args=("--model_name=",))
KINDS = (TF_SERVING, TRITON, MLSERVER, KSERVE)
UNKNOWN = ServerKind("?")


def _image_matches(images: Iterable[str], wanted: Iterable[str]) -> bool:
    wanted = tuple(wanted)
    return any(w in image for image in images for w in wanted)


def kind_of(images: Iterable[str], labels: dict[str, str]) -> ServerKind:
    """The server kind the containers' images (else the labels) tell; ``UNKNOWN`` otherwise."""
    images = list(images)
    for kind in KINDS:
        if _image_matches(images, kind.images):
            return kind
    for kind in KINDS:
        if any(labels.get(k) == v for k, v in kind.labels):
            return kind
    return UNKNOWN


def kind_speaking(protocol) -> ServerKind:
    """The first kind whose images the protocol's hints list (a service recognised by its ports
    only is shown as the server that speaks its protocol by default)."""
    return next((k for k in KINDS if _image_matches(protocol.discovery.images, k.images)), UNKNOWN)


def pod_images(pods) -> list[str]:
    return [c.image or "" for pod in pods[:1] for c in (pod.spec.containers or [])]


def declared_model(pods, kind: ServerKind | None = None) -> str | None:
    """The model the pods declare — ``--model_name=``/``MODEL_NAME`` (TF Serving),
    ``--load-model=`` (Triton), ``MLSERVER_MODEL_NAME`` (MLServer): what ``cluster list`` shows
    and what a k8s backend without a model asks for."""
    kinds = (kind,) if kind is not None and kind is not UNKNOWN else KINDS
    args = tuple(a for k in kinds for a in k.model_args)
    names = tuple(e for k in kinds for e in k.model_env)
    for pod in pods:
        for c in pod.spec.containers or []:
            for arg in list(c.args or []) + list(c.command or []):
                if arg.startswith(args):
                    return arg.split("=", 1)[1] or None
            for env in c.env or []:
                if env.name in names and env.value:
                    return env.value
    return None


def _by_number(hints: DiscoveryHints, ports) -> bool:
    return any(
        p.port in hints.ports or (p.target_port.isdigit() and int(p.target_port) in hints.ports)
        for p in ports
    )


def protocol_candidates(
    images: list[str], labels: dict[str, str], ports, *, known: bool = False
) -> list:
    """The registered protocols a workload can be measured over, most preferred first (registry
    order): those whose hints name its image, else its labels, else one of its port numbers,
    else one of its port names — and for which it has a port (``pick_port``). ``known``: its
    image or labels said which server it is, so ports alone do not make it speak a protocol."""
    from tfcompare.cluster.discovery import pick_port
    from tfcompare.serving.protocols import PROTOCOLS

    registered = list(PROTOCOLS.values())
    tests = (
        lambda p: _image_matches(images, p.discovery.images),
        lambda p: any(labels.get(k) == v for k, v in p.discovery.labels),
        lambda p: _by_number(p.discovery, ports),
        lambda p: any(port.name in p.discovery.port_names for port in ports),
    )
    for test in tests[:2] if known else tests:
        found = [p for p in registered if test(p)]
        if found:
            return [p for p in found if pick_port(ports, p.discovery) is not None]
    return []


def protocol_choices() -> list[tuple[str, str]]:
    """(name, label for people) of every registered protocol, in registry order: what the cluster
    dialog offers."""
    from tfcompare.serving.protocols import PROTOCOLS

    return [(p.name, f"{p.label} ({p.default_port})") for p in PROTOCOLS.values()]
