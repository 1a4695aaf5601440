"""Hostile HTTP peers against tfcompare's REST client, model-status probe and metrics scraper: a
status line or headers trickled byte by byte, ``100 Continue`` without end, ``103 Early Hints``
before every answer, and a metrics listener that must never see a backend's credentials. Each
peer is a thread on 127.0.0.1; a hang would be caught by the test's own timeout."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable

import pytest

from tfcompare.serving.answers import ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import EncodedImageInput
from tfcompare.serving.rest_client import RestClient
from tfcompare.serving.server_metrics import MetricsError, MetricsScraper

pytestmark = pytest.mark.timeout(60)


class Peer:
    """Accepts connections on 127.0.0.1 and hands each to ``handler(conn)`` in a thread; records
    every request head it reads with ``read_head``."""

    def __init__(self, handler: Callable[[Peer, socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def read_head(self, conn: socket.socket) -> tuple[bytes, bytes]:
        """One request: (head, body), reading Content-Length bytes of body; b"" at EOF."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return b"", b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.heads.append(head)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        return head, body

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make(handler):
        made.append(Peer(handler))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def _trickle(answer: bytes, gap: float = 0.2):
    def handler(peer: Peer, conn: socket.socket) -> None:
        peer.read_head(conn)
        for byte in answer:
            if peer.stop.wait(gap):
                return
            conn.sendall(bytes([byte]))

    return handler


STATUS_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 63\r\n\r\n"
    b'{"model_version_status":[{"version":"1","state":"AVAILABLE"}]}\n'
)


def test_a_trickled_status_line_and_headers_end_at_the_deadline(peers):
    """The whole exchange — status line and headers too — is bounded by the request's deadline:
    a server sending one byte every 0.2 s (each byte restarting a socket timeout) would otherwise
    keep the model-status probe waiting for the 13 s its answer takes, and one that never stops
    for ever."""
    peer = peers(_trickle(STATUS_ANSWER))
    client = RestClient(
        BackendSpec("slow", peer.address, protocol="rest", model="m", timeout_s=0.5)
    )
    with pytest.raises(ServingError) as raised:
        client.status()
    assert raised.value.code == "DEADLINE_EXCEEDED"
    assert "did not answer within 0.5 s" in raised.value.message


def test_endless_interim_responses_are_refused(peers):
    def handler(peer: Peer, conn: socket.socket) -> None:
        peer.read_head(conn)
        while not peer.stop.wait(0.01):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    peer = peers(handler)
    client = RestClient(BackendSpec("c", peer.address, protocol="rest", model="m", timeout_s=20))
    with pytest.raises(ServingError) as raised:
        client.status()
    assert raised.value.code == "UNAVAILABLE"
    assert "interim (1xx) responses" in raised.value.message


def _early_hints_predictor(peer: Peer, conn: socket.socket) -> None:
    """A TF Serving-like ``:predict`` that sends ``103 Early Hints`` before each answer and
    answers with the class the request's image bytes name (its first byte)."""
    while True:
        head, body = peer.read_head(conn)
        if not head:
            return
        image = base64.b64decode(json.loads(body)["instances"][0]["b64"])
        scores = [0.0] * 10
        scores[image[0]] = 1.0
        answer = json.dumps({"predictions": [scores]}).encode()
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
        )


def test_early_hints_never_attribute_an_answer_to_another_request(peers, tmp_path):
    """With an interim response before each answer, every answer over the keep-alive connection
    still belongs to its own request (http.client took the 103 for the answer and read the real
    one as the next request's)."""
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class-{i}" for i in range(10)))
    peer = peers(_early_hints_predictor)
    spec = BackendSpec("hints", peer.address, protocol="rest", model="m", labels=str(labels))
    client = RestClient(spec)
    sig = SignatureInfo(
        "serving_default", "images", "DT_STRING", ("scores",), None, EncodedImageInput("images")
    )
    for i in (3, 7, 1, 9, 0, 5, 2, 8, 6, 4):
        out = client.predict(sig.input.make(bytes([i]) + b"image"), sig)
        assert out.top5[0].label == f"class-{i}"
    assert len(peer.heads) == 10
    client.close()


def test_a_trickled_metrics_page_ends_at_the_deadline(peers):
    page = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n# x\n\n"
    peer = peers(_trickle(page))
    scraper = MetricsScraper(f"http://{peer.address}/metrics", timeout_s=0.5)
    with pytest.raises(MetricsError, match="did not answer within 0.5 s"):
        scraper.fetch()


def _metrics_listener(peer: Peer, conn: socket.socket) -> None:
    while True:
        head, _ = peer.read_head(conn)
        if not head:
            return
        page = (
            b"# TYPE :tensorflow:serving:request_count counter\n"
            b':tensorflow:serving:request_count{model_name="m",status="OK"} 1\n'
        )
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page))


def test_a_backends_token_never_goes_to_a_discovered_metrics_page_in_clear(peers, tmp_path):
    """A TLS gRPC backend's metrics are discovered on the next port over plain HTTP: the
    backend's authorization header must not be sent there; a metrics header the user gives for
    the metrics page is."""
    from tfcompare.runner.server_clock import ServerClock

    listener = peers(_metrics_listener)
    grpc_port = listener.port - 1  # the page is looked for on the gRPC port + 1
    ca = tmp_path / "ca.pem"
    ca.write_text("not used: the metrics page is plain HTTP")
    spec = BackendSpec(
        "tls",
        f"127.0.0.1:{grpc_port}",
        model="m",
        tls_ca=str(ca),
        headers=(("authorization", "Bearer SECRET-TOKEN"),),
    )
    clock = ServerClock(spec)
    clock.open(spec.target)
    assert clock.scraper is not None, clock.message
    clock.close()
    assert listener.heads and all(b"SECRET-TOKEN" not in h for h in listener.heads)
    assert all(b"authorization" not in h.lower() for h in listener.heads)

    from dataclasses import replace

    given = replace(spec, metrics_headers=(("authorization", "Bearer METRICS-ONLY"),))
    clock = ServerClock(given)
    clock.open(spec.target)
    clock.close()
    assert b"METRICS-ONLY" in listener.heads[-1] and b"SECRET-TOKEN" not in listener.heads[-1]
