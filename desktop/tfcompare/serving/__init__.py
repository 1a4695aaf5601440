"""TF Serving backends: gRPC and REST clients, metadata/status, result parsing.

Importing this package never loads the TensorFlow runtime (see ``_protos``).
"""

from __future__ import annotations

from collections.abc import Callable

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import BackendClient
from tfcompare.serving.grpc_client import GrpcClient
from tfcompare.serving.rest_client import RestClient


def make_client(
    spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
) -> BackendClient:
    """A client for ``spec``; ``address`` overrides the host:port dialled (port-forward relays),
    ``where`` names the backend in messages instead (a forward's ``describe``).

    ``spec.protocol`` picks gRPC or REST. Raises ServingError for unusable settings."""
    if spec.protocol == "rest":
        return RestClient(spec, address, where)
    if spec.protocol != "grpc":
        from tfcompare.serving.answers import ServingError

        raise ServingError("INVALID_ARGUMENT", f"unknown protocol {spec.protocol!r} (grpc or rest)")
    return GrpcClient(spec, address, where)


__all__ = ["BackendClient", "GrpcClient", "RestClient", "make_client"]
