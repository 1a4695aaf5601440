"""Kubernetes access: kubeconfig contexts, discovery of model servers (TF Serving, Triton, MLServer
services, KServe InferenceServices), and port-forwards to 127.0.0.1 that follow pod restarts. Uses the official ``kubernetes`` client, imported lazily
(nothing here imports Qt or the TensorFlow runtime)."""

from __future__ import annotations

from tfcompare.cluster.cluster_errors import ClusterError
from tfcompare.cluster.discovery import (
    Discovery,
    Resources,
    ServiceInfo,
    ServicePort,
    discover,
    discover_services,
    list_namespaces,
)
from tfcompare.cluster.forward import Forward, open_forward
from tfcompare.cluster.kube import ContextInfo, list_contexts
from tfcompare.cluster.target import K8sTarget, make_target, parse_target

__all__ = [
    "ClusterError",
    "ContextInfo",
    "Discovery",
    "Forward",
    "K8sTarget",
    "Resources",
    "ServiceInfo",
    "ServicePort",
    "discover",
    "discover_services",
    "list_contexts",
    "list_namespaces",
    "make_target",
    "open_forward",
    "parse_target",
]
