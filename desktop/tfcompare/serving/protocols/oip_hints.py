"""What Kubernetes discovery looks for, and where the metrics are, for the protocols of Triton,
MLServer and KServe: the ``discovery`` and ``metrics_port`` hints of the Open Inference Protocol
(gRPC ``v2``, REST ``v2+http``) and KServe v1 (``kserve+http``) protocol objects.

Default ports, from each server's documentation and source:

- Triton: HTTP 8000, gRPC 8001, metrics 8002 (``/metrics``); image ``nvcr.io/nvidia/tritonserver``.
- MLServer: HTTP 8080, gRPC 8081, metrics 8082 (``/metrics``); image ``seldonio/mlserver``.
- KServe's model servers (``kserve/sklearnserver`` …): HTTP 8080, gRPC 8081, metrics at
  ``/metrics`` on the HTTP port. KServe's serving runtimes run their server on HTTP 8080 and gRPC
  9000 (named ``h2c`` or ``grpc`` when declared), and say where the metrics are in the pod
  annotations ``prometheus.kserve.io/port`` and ``prometheus.kserve.io/path``.
"""

from __future__ import annotations

from tfcompare.serving.protocols.base import DiscoveryHints

TRITON_IMAGES = ("nvcr.io/nvidia/tritonserver", "tritonserver")
MLSERVER_IMAGES = ("seldonio/mlserver", "mlserver")
# KServe's own model servers (python): sklearnserver, xgbserver, lgbserver, pmmlserver,
# paddleserver, huggingfaceserver, custom ones built on the kserve package
KSERVE_IMAGES = ("kserve/",)

OIP_GRPC = DiscoveryHints(
    ports=(8001, 8081),
    port_names=("grpc", "grpc-v2", "h2c"),
    images=TRITON_IMAGES + MLSERVER_IMAGES + KSERVE_IMAGES,
    labels=(("app.kubernetes.io/name", "triton-inference-server"),),
    kserve=("grpc-v2",),
)
OIP_HTTP = DiscoveryHints(
    ports=(8000, 8080),
    port_names=("http", "http-v2", "http1", "user-port"),
    images=TRITON_IMAGES + MLSERVER_IMAGES + KSERVE_IMAGES,
    labels=(("app.kubernetes.io/name", "triton-inference-server"),),
    kserve=("v2",),
)
KSERVE_V1 = DiscoveryHints(
    ports=(8080,),
    port_names=("http", "http1", "user-port"),
    images=KSERVE_IMAGES,
    kserve=("v1",),
)
# Triton 8002, MLServer 8082 (both /metrics)
OIP_METRICS_PORT = DiscoveryHints(ports=(8002, 8082), port_names=("metrics", "http-metrics"))
# KServe's model server: /metrics on its HTTP port
KSERVE_METRICS_PORT = DiscoveryHints(ports=(8080,), port_names=("http", "http1", "user-port"))
METRICS_PATH = "/metrics"
