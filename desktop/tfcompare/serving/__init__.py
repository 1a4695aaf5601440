"""Serving backends: one protocol object per serving protocol (``protocols``), their clients,
what goes on the wire (``inputs``), answers (``answers``, ``outputs``), server metrics.

Importing this package never loads the TensorFlow runtime (see ``_protos``); clients are imported
by their protocol when one is made.
"""

from __future__ import annotations

from collections.abc import Callable

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import BackendClient


def make_client(
    spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
) -> BackendClient:
    """A client for ``spec`` from its protocol (``tfcompare.serving.protocols``); ``address``
    overrides the host:port dialled (port-forward relays), ``where`` names the backend in messages
    instead (a forward's ``describe``). Raises ServingError for unusable settings."""
    from tfcompare.serving import protocols
    from tfcompare.serving.answers import ServingError

    try:
        protocol = protocols.get(spec.protocol)
    except ValueError as exc:
        raise ServingError("INVALID_ARGUMENT", str(exc)) from None
    return protocol.client(spec, address, where)


__all__ = ["BackendClient", "make_client"]
