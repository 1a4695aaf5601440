"""What a serving protocol is to tfcompare: one object per protocol, registered in
``tfcompare.serving.protocols.PROTOCOLS``.

Every place that depends on the protocol asks its object — backend spec parsing (scheme), the
comparison client, the load sender, where server metrics are found, what Kubernetes discovery looks
for, what the window offers — so adding a protocol is one module plus one registration.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.serving.base import BackendClient
    from tfcompare.serving.senders import Sender


@dataclass(frozen=True)
class DiscoveryHints:
    """How a Kubernetes service or pod that speaks the protocol is recognised.

    ``ports``: the protocol's well-known container/service port numbers (preferred first);
    ``port_names``: service/container port names that mean it (``grpc``, ``http``…);
    ``images``: substrings of container images that serve it (``tensorflow/serving``…);
    ``labels``: (key, value) pod/service labels that mark it;
    ``kserve``: the KServe InferenceService ``protocolVersion`` values it answers (``v1``,
    ``v2``, ``grpc-v1``, ``grpc-v2``).
    """

    ports: tuple[int, ...] = ()
    port_names: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    kserve: tuple[str, ...] = ()


class ServingProtocol(abc.ABC):
    """A protocol tfcompare can measure a backend over.

    ``name`` is what backend specs (``,protocol=NAME``; ``scheme``), sessions and JSON carry;
    ``label`` is for people ("TF Serving gRPC"); ``server`` names the servers that speak it;
    ``transport`` is ``grpc`` or ``http`` (which load sender runs it).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    server: ClassVar[str]
    transport: ClassVar[Literal["grpc", "http"]]
    default_port: ClassVar[int]
    #: the address scheme of a ``HOST:PORT`` spec (``v2://…``); None: plain ``HOST:PORT`` (with
    #: ``--rest`` for TF Serving's REST API)
    scheme: ClassVar[str | None] = None
    discovery: ClassVar[DiscoveryHints] = DiscoveryHints()
    #: the port of a Kubernetes service (or pod) that serves the metrics page, and its path
    metrics_port: ClassVar[DiscoveryHints] = DiscoveryHints()
    metrics_path: ClassVar[str] = "/metrics"
    #: versions are numbers (TF Serving) or strings (Open Inference Protocol)
    numeric_versions: ClassVar[bool] = True
    #: the server's metadata may not say what a model takes, so a backend spec may declare it
    #: (``,input=``: ``tfcompare.serving.inputs.declared_input``)
    declared_input: ClassVar[bool] = False

    @abc.abstractmethod
    def client(
        self,
        spec: BackendSpec,
        address: str | None = None,
        where: Callable[[], str] | None = None,
    ) -> BackendClient:
        """The comparison client for ``spec`` (``address`` overrides ``spec.target``: a
        port-forward's relay; ``where`` names the backend in messages instead)."""

    def sender(
        self, spec: BackendSpec, address: str, timeout_s: float, concurrency: float
    ) -> Sender:
        """The load engine's sender for prepared requests of this protocol."""
        from tfcompare.serving import senders

        if self.transport == "grpc":
            return senders.GrpcSender(spec, address, timeout_s, concurrency)
        return senders.HttpSender(spec, address, timeout_s, concurrency)

    @abc.abstractmethod
    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        """Where a server reached at ``address`` may publish its Prometheus metrics, most
        likely first (tried in order when the user names none)."""

    def __repr__(self) -> str:
        return f"<protocol {self.name}: {self.label}>"
