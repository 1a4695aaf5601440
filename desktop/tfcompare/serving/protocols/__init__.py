"""The serving protocols tfcompare speaks, one module each, registered in ``PROTOCOLS``.

Adding a protocol: write a module with a :class:`ServingProtocol` subclass (client, metrics
locations, discovery hints) and register its instance below.
"""

from __future__ import annotations

from tfcompare.serving.protocols.base import DiscoveryHints, ServingProtocol
from tfcompare.serving.protocols.oip import KSERVE_V1, OIP_GRPC, OIP_REST
from tfcompare.serving.protocols.tf_serving import TF_SERVING_GRPC, TF_SERVING_REST

PROTOCOLS: dict[str, ServingProtocol] = {
    p.name: p
    for p in (
        TF_SERVING_GRPC,
        TF_SERVING_REST,
        OIP_GRPC,
        OIP_REST,
        KSERVE_V1,
    )
}
DEFAULT = TF_SERVING_GRPC.name


def get(name: object) -> ServingProtocol:
    """The protocol called ``name``; ValueError naming the known ones otherwise."""
    if isinstance(name, str) and name in PROTOCOLS:
        return PROTOCOLS[name]
    known = ", ".join(PROTOCOLS)
    raise ValueError(f"unknown protocol {name!r} (known: {known})")


def by_scheme(scheme: str) -> ServingProtocol | None:
    """The protocol whose backend-spec scheme is ``scheme`` (``v2``, ``v2+http``…)."""
    return next((p for p in PROTOCOLS.values() if p.scheme == scheme.lower()), None)


__all__ = ["DEFAULT", "PROTOCOLS", "DiscoveryHints", "ServingProtocol", "by_scheme", "get"]
