"""Discovery of Triton, MLServer and KServe InferenceServices, their forwards and metrics ports,
against the local Kubernetes API server (tests/kube_api_server.py, workloads from
tests/kube_servers.py): ``cluster list``'s rows and TARGETs, forwards to the protocol's port (a
serverless InferenceService's pod directly), Triton's metrics page read through a forward, and the
address in-cluster agents use."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kube_api_server import add_tfs_service
from kube_servers import (
    TRITON_IMAGE,
    add_isvc,
    add_mlserver_service,
    add_triton_service,
)

from tfcompare.cluster import ClusterError, open_forward
from tfcompare.cluster.discovery import discover
from tfcompare.serving.backend_spec import BackendSpec

PAGES = Path(__file__).parent / "fixtures" / "triton_metrics"


class PageServer:
    """A real HTTP server on 127.0.0.1 answering every GET with the current ``body`` (a pod port
    behind the stand-in's port-forward: Triton's metrics page, or an HTTP health answer)."""

    def __init__(self, body: bytes, content_type: str = "text/plain; charset=utf-8"):
        self.body, self.paths = body, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop to look again: every 0.02 s, not the default 0.5 s
        threading.Thread(
            target=lambda: self.server.serve_forever(poll_interval=0.02), daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages():
    started: list[PageServer] = []

    def start(body: bytes) -> PageServer:
        started.append(PageServer(body))
        return started[-1]

    yield start
    for s in started:
        s.close()


def http_get(address: str, path: str) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def _cluster(kube) -> None:
    add_tfs_service(kube, "tfs-cpu-1", ns="ml", grpc="127.0.0.1:9")
    add_triton_service(kube, "triton", limits={"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"})
    add_mlserver_service(kube, "mlserver")
    add_isvc(  # raw deployment: a Deployment + Service sklearn-iris-predictor
        kube,
        "sklearn-iris",
        mode="RawDeployment",
        args=["--model_name=sklearn-iris", "--model_dir=/mnt/models", "--http_port=8080"],
    )
    add_isvc(  # serverless, KServe's TF Serving runtime over v1
        kube,
        "flowers",
        predictor={
            "model": {
                "modelFormat": {"name": "tensorflow"},
                "runtime": "kserve-tensorflow-serving",
                "storageUri": "gs://kfserving-examples/models/tensorflow/flowers",
            }
        },
        image="tensorflow/serving:2.6.2",
        args=["--model_name=flowers", "--port=9000", "--rest_api_port=8080"],
    )
    add_isvc(  # serverless Triton over the OIP's REST API, metrics on 8002 (annotated by KServe)
        kube,
        "densenet",
        predictor={
            "model": {"modelFormat": {"name": "onnx"}, "protocolVersion": "v2"},
        },
        image="kserve-tritonserver:25.02-py3".replace("kserve-", "nvcr.io/nvidia/"),
        args=["tritonserver", "--model-store=/mnt/models", "--grpc-port=9000", "--http-port=8080"],
        annotations={"prometheus.kserve.io/port": "8002", "prometheus.kserve.io/path": "/metrics"},
    )


def test_cluster_list_shows_kind_protocol_and_a_target_to_paste(
    kube, oip_protocols, capsys, monkeypatch
):
    from tfcompare.cli import cluster_cmd, main

    # nothing listens behind these pods: each "what does the model take" probe ends at its
    # deadline, which the listing waits for (test_k8s_cli.py checks the column on real servers)
    monkeypatch.setattr(cluster_cmd, "INPUT_PROBE_S", 0.5)
    _cluster(kube)
    assert main(["cluster", "list", "-n", "ml"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("ml ")}
    assert set(rows) == {"tfs-cpu-1", "triton", "mlserver", "sklearn-iris", "flowers", "densenet"}
    expected = {
        "tfs-cpu-1": ("TF Serving", "grpc, rest", "k8s://ml/tfs-cpu-1:8500/tiny"),
        "triton": ("Triton", "v2, v2+http", "k8s://ml/triton:8001/inception-v3,protocol=v2"),
        "mlserver": ("MLServer", "v2, v2+http", "k8s://ml/mlserver:8081/iris,protocol=v2"),
        "sklearn-iris": (
            "KServe · sklearn",
            "kserve+http",
            "k8s://ml/sklearn-iris-predictor:80/sklearn-iris,protocol=kserve+http",
        ),
        "flowers": (
            "KServe · TF Serving",
            "rest, kserve+http",
            "k8s://ml/flowers:8080/flowers,protocol=rest",
        ),
        "densenet": ("KServe · Triton", "v2+http", "k8s://ml/densenet:8080,protocol=v2+http"),
    }
    for name, (kind, protocols, target) in expected.items():
        line = rows[name]
        assert f"  {kind}  " in line and f"  {protocols}  " in line, line
        assert line.rstrip().endswith(target), line
        # what TARGET prints is what --backend takes: it parses back to the same backend
        spec = BackendSpec.parse(f"b={target}")
        assert spec.protocol == protocols.split(", ")[0] and spec.target in target
    assert "GPU 1, CPU 4, mem 8Gi" in rows["triton"]
    # serverless: the forward goes straight to the pod; the ingress route is named
    assert "ml/flowers: serverless" in out and ",host=flowers.ml.example.com" in out
    # Knative's and KServe's own services are not listed as servers of their own
    assert "predictor-00001" not in out


def test_discovery_without_kserve_or_with_its_list_forbidden(kube, oip_protocols):
    add_triton_service(kube, "triton")
    found = discover(namespace="ml")  # KServe not installed: no note, no error
    assert [s.name for s in found.services] == ["triton"] and found.notes == []
    add_isvc(kube, "sklearn-iris")
    kube.forbid("inferenceservices", "ml")
    found = discover(namespace="ml")
    assert [s.name for s in found.services] == ["triton"]
    assert len(found.notes) == 1 and "InferenceServices not listed" in found.notes[0]
    assert "403" in found.notes[0]


def test_a_server_whose_protocol_is_not_registered_is_shown_but_not_offered(
    kube, monkeypatch, capsys
):
    """With only TF Serving's protocols registered, a Triton service is still recognised (its
    kind) — not taken for TF Serving because its ports are named grpc and http — and no TARGET
    is offered for it."""
    from tfcompare.cli import main
    from tfcompare.serving import protocols

    only_tfs = {k: p for k, p in protocols.PROTOCOLS.items() if k in ("grpc", "rest")}
    monkeypatch.setattr(protocols, "PROTOCOLS", only_tfs)
    add_triton_service(kube, "triton")
    (triton,) = discover(namespace="ml").services
    assert triton.kind == "Triton" and triton.protocols == ()
    assert main(["cluster", "list", "-n", "ml"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ml ")]
    assert row.split()[-1] == "-" and "  Triton  " in row


def test_forward_goes_to_the_protocols_port(kube, oip_protocols, pages):
    ready = pages(b'{"ready": true}')
    pod = add_triton_service(kube, "triton", http=ready.address)
    spec = BackendSpec("t", "k8s://ml/triton", protocol="v2+http", model="inception-v3")
    with open_forward(spec) as fwd:
        assert fwd.port == 8000 and fwd.pod == pod
        assert http_get(fwd.address, "/v2/health/ready").endswith(b'{"ready": true}')
    assert ready.paths == ["/v2/health/ready"]
    assert any(f"pods/{pod}/portforward?ports=8000" in r for r in kube.requests)
    odd = [{"name": "grpc", "port": 9000}, {"name": "admin", "port": 9090}]
    kube.add_service("ml", "odd", odd, {"app": "odd"})
    with pytest.raises(ClusterError, match=r"has no v2\+http port \(8000/8080 or named http"):
        open_forward(BackendSpec("o", "k8s://ml/odd", protocol="v2+http", model="m"))


def test_serverless_inference_service_is_forwarded_to_its_pod(kube, oip_protocols, pages):
    ready = pages(b'{"name": "flowers", "ready": true}')
    pod = add_isvc(
        kube,
        "flowers",
        image="tensorflow/serving:2.6.2",
        args=["--model_name=flowers", "--rest_api_port=8080"],
        backends={8080: ready.address},
    )
    # no model given: the one the InferenceService's pods declare
    spec = BackendSpec("f", "k8s://ml/flowers:8080", protocol="kserve+http", model=None)
    with open_forward(spec) as fwd:
        assert fwd.pod == pod and fwd.port == 8080 and fwd.spec.model == "flowers"
        assert http_get(fwd.address, "/v1/models/flowers").endswith(b'"ready": true}')
    # past the queue-proxy: the stream goes to the server container's port, not 8012
    assert any(f"pods/{pod}/portforward?ports=8080" in r for r in kube.requests)
    assert not any("portforward?ports=8012" in r for r in kube.requests)


def test_serverless_inference_service_without_a_ready_pod(kube, oip_protocols):
    pod = add_isvc(kube, "cold", ready=False)
    with pytest.raises(
        ClusterError, match=rf"no ready pod behind .*0/1 predictor pods ready.*{pod}"
    ):
        open_forward(BackendSpec("c", "k8s://ml/cold:8080", protocol="kserve+http", model="m"))


def _clock(spec):
    from tfcompare.runner.server_clock import ServerClock

    clock = ServerClock(spec)
    clock.open(None)
    return clock


@pytest.mark.parametrize("exposed", [True, False], ids=["service-port", "pod-port"])
def test_tritons_metrics_through_the_forward(kube, oip_protocols, pages, exposed):
    """A k8s backend over the OIP reads Triton's metrics on port 8002 through a forward of its
    own — the service's metrics port, or the pods' 8002 when the service does not expose it — and
    splits a block into server, queue and model time."""
    page = pages((PAGES / "before.txt").read_bytes())
    pod = add_triton_service(kube, "triton", metrics=page.address, expose_metrics=exposed)
    spec = BackendSpec("t", "k8s://ml/triton:8001", protocol="v2", model="inception-v3")
    clock = _clock(spec)
    try:
        assert clock.format is not None and clock.format.name == "Triton", clock.message
        assert clock.message.startswith("server metrics from k8s://ml/triton (metrics port 8002")
        assert clock.message.endswith("(Triton)")
        before = clock.scrape()
        page.body = (PAGES / "after.txt").read_bytes()
        after = clock.scrape()
        block = clock.format.block_time(before, after, spec, 3)
    finally:
        clock.close()
    assert block.exact and block.counted == 3
    assert block.queue_ms == pytest.approx((112 + 95 + 130) / 3 / 1000)
    assert block.server_ms == pytest.approx((41234 + 39876 + 40321) / 3 / 1000)
    assert any(f"pods/{pod}/portforward?ports=8002" in r for r in kube.requests)
    assert page.paths[0] == "/metrics"


def test_serverless_triton_metrics_port_from_kserves_annotation(kube, oip_protocols, pages):
    page = pages((PAGES / "before.txt").read_bytes())
    pod = add_isvc(
        kube,
        "densenet",
        predictor={"model": {"modelFormat": {"name": "onnx"}, "protocolVersion": "v2"}},
        image=TRITON_IMAGE,
        backends={8002: page.address},
        annotations={"prometheus.kserve.io/port": "8002"},
    )
    spec = BackendSpec("d", "k8s://ml/densenet:8080", protocol="v2+http", model="inception-v3")
    clock = _clock(spec)
    try:
        assert clock.format is not None and clock.format.name == "Triton", clock.message
    finally:
        clock.close()
    assert any(f"pods/{pod}/portforward?ports=8002" in r for r in kube.requests)


def test_cluster_forward_cli_takes_registry_names(kube, oip_protocols, capsys):
    from tfcompare.cli import main

    with pytest.raises(SystemExit):
        main(["cluster", "forward", "k8s://ml/triton", "--protocol", "triton"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and "'v2'" in err and "'grpc'" in err


def test_in_cluster_agents_address_the_protocols_port(kube, oip_protocols):
    from tfcompare.cluster.loadjob import service_address

    add_triton_service(kube, "triton")
    add_isvc(kube, "flowers", image="tensorflow/serving:2.6.2")
    ip = kube.services["ml/triton"]["spec"]["clusterIP"]
    grpc = BackendSpec("t", "k8s://ml/triton", protocol="v2", model="m")
    http = BackendSpec("t", "k8s://ml/triton", protocol="v2+http", model="m")
    assert service_address(grpc) == f"{ip}:8001"
    assert service_address(http) == f"{ip}:8000"
    # a serverless InferenceService: its cluster-local address (gateway, activator, queue-proxy)
    flowers = BackendSpec("f", "k8s://ml/flowers:8080", protocol="rest", model="flowers")
    assert service_address(flowers) == "flowers.ml.svc.cluster.local:80"


def test_serverless_inference_service_scaled_to_zero(kube, oip_protocols):
    add_isvc(kube, "idle")
    kube.pods.pop("ml/" + next(k.split("/")[1] for k in kube.pods if "idle" in k))
    with pytest.raises(ClusterError, match=r"has no predictor pods \(scaled to zero\?"):
        open_forward(BackendSpec("i", "k8s://ml/idle:8080", protocol="kserve+http", model="m"))
