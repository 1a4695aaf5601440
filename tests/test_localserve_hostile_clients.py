"""The local server (real ``tfcompare serve``) against clients that hold it without sending
anything wrong: a model name with a line separator, request bodies trickled a byte at a time,
a thousand idle TCP connections, large requests at once. Others keep being served, every
refusal says why, and the metrics page stays readable."""

from __future__ import annotations

import resource
import socket
import threading
import time
import urllib.request
from contextlib import contextmanager

import grpc
import pytest
import stub_client as sc
from prometheus_client.parser import text_string_to_metric_families
from rest_raw import STATUS, connect, read_all, responses

pytestmark = pytest.mark.slow

READ_TIMEOUT = 2  # --rest-read-timeout
MAX_CONNECTIONS = 8  # --rest-max-connections
IN_FLIGHT_MB = 8  # --max-in-flight-mb
# a lone request waits 3 s for others to batch with: long enough to see it in flight
SLOW_BATCHES = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 3000000 }
num_batch_threads { value: 1 }
"""


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    from backends import start_backend

    folder = tmp_path_factory.mktemp("hostile-clients")
    params = folder / "batching.txt"
    params.write_text(SLOW_BATCHES)
    backend = start_backend(
        tiny_model,
        rest=True,
        log_dir=folder,
        extra_args=[
            "--rest-read-timeout",
            str(READ_TIMEOUT),
            "--rest-max-connections",
            str(MAX_CONNECTIONS),
            "--max-in-flight-mb",
            str(IN_FLIGHT_MB),
            "--batching-parameters",
            str(params),
        ],
    )
    yield backend
    backend.stop()


def metrics_page(backend, timeout: float = 10) -> tuple[int, str]:
    url = f"http://{backend.rest}/monitoring/prometheus/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# ---------------------------------------------------------------------------------- model names


def test_a_model_name_with_a_line_separator_is_refused_and_keeps_the_page_readable(server):
    error = sc.rpc_error(sc.predict, server.grpc, sc.predict_request(b"x", model="x\u2028y"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "line separator (U+2028)" in error.details(), error.details()
    error = sc.rpc_error(sc.status, server.grpc, "a\x1b[2Jb")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "U+001B" in error.details()
    with connect(server) as sock:
        sock.sendall(b"GET /v1/models/x%E2%80%A8y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, body = responses(read_all(sock))[0]
    assert status == 400 and "U+2028" in body["error"]
    status, page = metrics_page(server)
    assert status == 200 and "\u2028" not in page and "\x1b" not in page
    families = {f.name: f for f in text_string_to_metric_families(page)}
    counted = families[":tensorflow:serving:request_count"].samples
    assert any(s.labels["model_name"] == "(other)" for s in counted), counted
    assert sc.status(server.grpc, "tiny").model_version_status[0].state == 30


def test_serve_refuses_to_start_under_such_a_name(tiny_model, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "tfcompare", "serve", tiny_model, "--model-name", "bad\u2028name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "--model-name" in proc.stderr and "U+2028" in proc.stderr


# ----------------------------------------------------------------------------- trickled bodies


def _trickle(sock: socket.socket, answers: list[bytes], stop: threading.Event) -> None:
    """A POST whose 200-byte body comes one byte every 0.5 s (each byte well inside the read
    timeout); what the server answers is kept."""
    try:
        sock.sendall(
            b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n"
        )
        for _ in range(200):
            if stop.wait(0.5):
                break
            sock.sendall(b"{")
    except OSError:
        pass  # the server closed the connection: what it should do
    try:
        sock.settimeout(5)
        answers.append(read_all(sock))
    except OSError:
        answers.append(b"")


def test_trickled_bodies_cannot_hold_the_rest_port(server):
    """As many connections as the server takes, each sending its body a byte every 0.5 s: the
    metrics page and the model status still answer within the read timeout and a little, while
    the trickle goes on."""
    stop = threading.Event()
    answers: list[bytes] = []
    socks = [connect(server, timeout=60) for _ in range(MAX_CONNECTIONS)]
    threads = [
        threading.Thread(target=_trickle, args=(s, answers, stop), daemon=True) for s in socks
    ]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20  # the trickle alone would hold them for 100 s
        while True:
            try:
                if metrics_page(server, timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the REST port stayed taken by the trickle"
            time.sleep(0.2)
        assert responses(read_all_from(server, STATUS))[0][0] == 200
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for s in socks:
            s.close()
    refused = [responses(a)[0] for a in answers if a]
    assert refused and all(status == 408 for status, _ in refused), refused
    assert "arrives too slowly" in refused[0][1]["error"]


def read_all_from(backend, data: bytes) -> bytes:
    with connect(backend) as sock:
        sock.sendall(data)
        return read_all(sock)


# ----------------------------------------------------------------------------- bytes in flight


def _in_flight(backend) -> float:
    _, page = metrics_page(backend)
    for family in text_string_to_metric_families(page):
        if family.name == ":tfcompare:serving:request_bytes_in_flight":
            return family.samples[0].value
    raise AssertionError("no request_bytes_in_flight gauge on the metrics page")


def test_requests_past_the_in_flight_budget_get_resource_exhausted(server):
    big = b"\xff" * (6 * 2**20)  # 6 MB: two of them pass the 8 MB budget
    first: list = []
    thread = threading.Thread(
        target=lambda: first.append(sc.rpc_error(sc.predict, server.grpc, sc.predict_request(big))),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 20
    while _in_flight(server) < 6 * 2**20:  # the first waits in the batch queue for 3 s
        assert time.monotonic() < deadline and thread.is_alive(), first
        time.sleep(0.05)
    error = sc.rpc_error(sc.predict, server.grpc, sc.predict_request(big))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-in-flight-mb" in error.details() and "retry later" in error.details()
    thread.join(30)
    assert first and first[0].code() == grpc.StatusCode.INVALID_ARGUMENT  # not an image
    assert _in_flight(server) == 0
    photo = sc.encode(sc.pattern())
    assert sc.predict(server.grpc, sc.predict_request(photo)).outputs


# ------------------------------------------------------------------------ idle TCP connections


@contextmanager
def _soft_fd_limit(limit: int):
    """Children started inside inherit a soft limit of ``limit`` open files (a default 1024 seen
    smaller, so that the test needs hundreds of connections, not thousands)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def low_fd_server(tiny_model, tmp_path):
    from backends import launch_backend

    with _soft_fd_limit(256) as hard:
        if hard < 2048:
            pytest.fail(f"the hard limit on open files ({hard}) is too low for this test")
        backend = launch_backend(tiny_model, rest=True, log_dir=tmp_path)
    backend.wait_ready()
    yield backend
    backend.stop()


def test_idle_grpc_connections_neither_exhaust_files_nor_stay(low_fd_server):
    server = low_fd_server
    host, port = server.grpc.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(600)]
    try:
        assert responses(read_all_from(server, STATUS))[0][0] == 200
        assert metrics_page(server)[0] == 200
        assert sc.status(server.grpc, "tiny").model_version_status[0].state == 30
        photo = sc.encode(sc.pattern())
        assert sc.predict(server.grpc, sc.predict_request(photo)).outputs
        # connections that never start HTTP/2 (the server's SETTINGS frame is all they get)
        # are closed after the handshake timeout (10 s); read_all returns at the close
        deadline = time.monotonic() + 60
        for sock in idle:
            sock.settimeout(max(1.0, deadline - time.monotonic()))
            read_all(sock)  # socket.timeout (a failure) if the server keeps it open
    finally:
        for sock in idle:
            sock.close()


def test_json_nested_past_the_stack_gets_a_clear_400(server):
    nested = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(nested), nested)
        )
        status, body = responses(read_all(sock))[0]
    assert status == 400 and "nests more than 256 levels deep" in body["error"], body
    assert "recursion" not in body["error"]
