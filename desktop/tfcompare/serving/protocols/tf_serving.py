"""TensorFlow Serving's two APIs: gRPC (``tensorflow.serving.PredictionService``, port 8500) and
REST (``/v1/models/…``, port 8501). Both publish Prometheus metrics on the REST port when started
with ``--monitoring_config_file``."""

from __future__ import annotations

from tfcompare.serving.protocols.base import DiscoveryHints, ServingProtocol

METRICS_PATH = "/monitoring/prometheus/metrics"
GRPC_PORT, REST_PORT = 8500, 8501
_IMAGES = ("tensorflow/serving", "tensorflow_model_server", "tfs")
_LABELS = (("app.kubernetes.io/name", "tensorflow-serving"),)
# TF Serving serves its metrics on the REST port (--monitoring_config_file)
_METRICS_PORT = DiscoveryHints(ports=(REST_PORT,), port_names=("http", "rest"))


def _rest_port_beside(port: int) -> int:
    """The REST port beside a gRPC port: 8501 beside 8500 (TF Serving's images), else the next."""
    return REST_PORT if port == GRPC_PORT else port + 1


class TfServingGrpc(ServingProtocol):
    name = "grpc"
    label = "TF Serving gRPC"
    server = "TensorFlow Serving"
    transport = "grpc"
    default_port = GRPC_PORT
    # KServe's TF Serving runtime answers its gRPC API as protocolVersion grpc-v1
    discovery = DiscoveryHints(
        ports=(GRPC_PORT,),
        port_names=("grpc",),
        images=_IMAGES,
        labels=_LABELS,
        kserve=("grpc-v1",),
    )
    metrics_port = _METRICS_PORT
    metrics_path = METRICS_PATH
    # the Prometheus labels of a Predict over this API: (API, entrypoint) of request_latency
    predict_labels = ("Predict", "GRPC")

    def client(self, spec, address=None, where=None):
        from tfcompare.serving.grpc_client import GrpcClient

        return GrpcClient(spec, address, where)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        # TF Serving's TLS (ssl_config_file) is for gRPC only: its REST port is plain HTTP
        host, _, port = address.rpartition(":")
        return (f"http://{host}:{_rest_port_beside(int(port))}{METRICS_PATH}",)


class TfServingRest(ServingProtocol):
    name = "rest"
    label = "TF Serving REST"
    server = "TensorFlow Serving"
    transport = "http"
    default_port = REST_PORT
    discovery = DiscoveryHints(
        ports=(REST_PORT,), port_names=("http", "rest"), images=_IMAGES, labels=_LABELS
    )
    metrics_port = _METRICS_PORT
    metrics_path = METRICS_PATH
    predict_labels = ("predict", "REST")

    def client(self, spec, address=None, where=None):
        from tfcompare.serving.rest_client import RestClient

        return RestClient(spec, address, where)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        return (f"{'https' if tls else 'http'}://{address}{METRICS_PATH}",)


TF_SERVING_GRPC = TfServingGrpc()
TF_SERVING_REST = TfServingRest()
