"""The Open Inference Protocol ("KServe v2") over gRPC and REST — Triton, MLServer, KServe's model
server, OpenVINO Model Server — and KServe's v1 REST protocol.

Ports as the servers ship them: Triton 8000 HTTP / 8001 gRPC / 8002 metrics; MLServer 8080 /
8081 / 8082 metrics; KServe's model server 8080 HTTP (metrics at ``/metrics`` on it) / 8081
gRPC. Metrics are looked for where each of them puts them beside the port a backend names;
what Kubernetes discovery looks for is in ``oip_hints``.
"""

from __future__ import annotations

from tfcompare.serving.protocols import oip_hints
from tfcompare.serving.protocols.base import ServingProtocol

METRICS_PATH = oip_hints.METRICS_PATH
HTTP_PORT, GRPC_PORT = 8080, 8081  # MLServer's and KServe's (Triton: 8000 / 8001)


def _urls(address: str, ports: tuple[int, ...], tls: bool = False) -> tuple[str, ...]:
    host, _, _ = address.rpartition(":")
    scheme = "https" if tls else "http"
    valid = (p for p in ports if 0 < p < 65536)
    return tuple(dict.fromkeys(f"{scheme}://{host}:{p}{METRICS_PATH}" for p in valid))


class OipGrpc(ServingProtocol):
    name = "v2"
    label = "Open Inference Protocol gRPC"
    server = "Triton, MLServer, KServe, OpenVINO Model Server"
    transport = "grpc"
    default_port = GRPC_PORT
    scheme = "v2"
    numeric_versions = False
    declared_input = True
    discovery = oip_hints.OIP_GRPC
    metrics_port = oip_hints.OIP_METRICS_PORT
    metrics_path = METRICS_PATH

    def client(self, spec, address=None, where=None):
        from tfcompare.serving.oip_grpc_client import OipGrpcClient

        return OipGrpcClient(spec, address, where)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        # the metrics port beside gRPC: Triton 8001 → 8002 and MLServer 8081 → 8082 (the next
        # port); KServe's model server publishes on its HTTP port, 8080 beside 8081
        port = int(address.rpartition(":")[2])
        return _urls(address, (port + 1, port - 1))


class OipRest(ServingProtocol):
    name = "v2+http"
    label = "Open Inference Protocol REST"
    server = "Triton, MLServer, KServe, OpenVINO Model Server"
    transport = "http"
    default_port = HTTP_PORT
    scheme = "v2+http"
    numeric_versions = False
    declared_input = True
    discovery = oip_hints.OIP_HTTP
    metrics_port = oip_hints.OIP_METRICS_PORT
    metrics_path = METRICS_PATH

    def client(self, spec, address=None, where=None):
        from tfcompare.serving.oip_rest_client import OipRestClient

        return OipRestClient(spec, address, where)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        # Triton 8000 → 8002 and MLServer 8080 → 8082 (two ports on, plain HTTP); KServe's model
        # server on its own port (over TLS when the backend is)
        port = int(address.rpartition(":")[2])
        return _urls(address, (port + 2,)) + _urls(address, (port,), tls)


class KServeV1(ServingProtocol):
    name = "kserve+http"
    label = "KServe v1 REST"
    server = "KServe (Python model server; TF Serving behind KServe)"
    transport = "http"
    default_port = HTTP_PORT
    scheme = "kserve+http"
    numeric_versions = False
    declared_input = True
    discovery = oip_hints.KSERVE_V1
    metrics_port = oip_hints.KSERVE_METRICS_PORT
    metrics_path = METRICS_PATH
    # behind KServe's TensorFlow runtime the server is TF Serving: its REST Predict's labels
    predict_labels = ("predict", "REST")

    def client(self, spec, address=None, where=None):
        from tfcompare.serving.kserve_v1_client import KServeV1Client

        return KServeV1Client(spec, address, where)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        from tfcompare.serving.protocols.tf_serving import METRICS_PATH as TF_METRICS_PATH

        scheme = "https" if tls else "http"
        return (
            f"{scheme}://{address}{METRICS_PATH}",  # KServe's model server
            f"{scheme}://{address}{TF_METRICS_PATH}",  # TF Serving (KServe's TF runtime)
        )


OIP_GRPC = OipGrpc()
OIP_REST = OipRest()
KSERVE_V1 = KServeV1()
