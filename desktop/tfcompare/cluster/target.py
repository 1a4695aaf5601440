"""``k8s://`` targets as the cluster package uses them. The syntax itself lives in
``tfcompare.targets`` (shared with backend specs); here a bad target is a :class:`ClusterError`."""

from __future__ import annotations

from tfcompare.cluster.cluster_errors import ClusterError
from tfcompare.targets import K8sTarget, TargetError, make_target, parse_k8s

__all__ = ["K8sTarget", "make_target", "parse_target"]


def parse_target(text: str) -> K8sTarget:
    """Parse a ``k8s://`` target (no model part); raise :class:`ClusterError` naming what is wrong."""
    try:
        return parse_k8s(text)[0]
    except TargetError as exc:
        raise ClusterError(str(exc)) from None
