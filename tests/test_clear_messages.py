"""Messages a user meets with odd input say what happened, in one wording: an image over the pixel
limit (whichever of tfcompare's and Pillow's checks catches it), a NaN score, a server that
explains nothing ("{}", empty gRPC details), a Kubernetes API error nested past Python's stack,
an agent image that is not an image reference."""

from __future__ import annotations

import dataclasses
import math
import socket
import subprocess
import threading
from concurrent import futures

import grpc
import images
import pytest
from cli_inprocess import run_tfcompare
from named_sessions import named_session
from PIL import Image

from tfcompare.imaging import ImageLoadError, build_ladder, describe


def tfcompare(*args) -> subprocess.CompletedProcess[str]:
    return run_tfcompare(*args)


LIMIT_TEXT = (
    f"tfcompare opens images of at most {Image.MAX_IMAGE_PIXELS:,} pixels "
    f"({Image.MAX_IMAGE_PIXELS / 1e6:.1f} megapixels)"
)


def test_both_image_bomb_checks_say_the_same_limit():
    """100 MP (over the limit: tfcompare's own check) and 400 MP (over twice the limit: Pillow's
    DecompressionBombError) read alike, each with the pixels it claims."""
    with pytest.raises(ImageLoadError) as ours:
        build_ladder(images.real_bomb_png(10_000))
    with pytest.raises(ImageLoadError) as pillows:
        describe(images.png_with_size(20_000, 20_000))
    assert LIMIT_TEXT in ours.value.message and LIMIT_TEXT in pillows.value.message
    assert "10000×10000, 100,000,000 pixels" in ours.value.message
    assert "400,000,000 pixels" in pillows.value.message
    assert "178956970" not in pillows.value.message  # Pillow's twice-the-limit figure


def test_a_nan_score_has_no_ratio_anywhere_it_is_shown(tmp_path):
    from tfcompare.runner.aggregates import aggregate, quality
    from tfcompare.runner.compare import compare_results, format_comparison
    from tfcompare.runner.run_formats import summary_table
    from tfcompare.serving.answers import Prediction
    from tfcompare.session import load_session

    assert quality([Prediction("cat", math.nan)], [Prediction("cat", 0.5)])[2] is None
    assert quality([Prediction("cat", math.inf)], [Prediction("cat", 0.5)])[2] is None
    result = load_session(named_session(tmp_path / "s.tfcs", sweep=False)).result
    nan_top5 = (Prediction("tabby", math.nan), Prediction("lynx", 0.1))
    requests = tuple(
        dataclasses.replace(r, top5=nan_top5) if r.variant != "original" else r
        for r in result.requests
    )
    result = dataclasses.replace(result, requests=requests, summary=aggregate(requests))
    table = summary_table(result)
    assert "nan" not in table.lower(), table
    text = format_comparison(compare_results(result, result))
    assert "nan" not in text.lower(), text


class _Silent(grpc.GenericRpcHandler):
    """Every call answered UNKNOWN with the given details (what a gateway saying nothing does)."""

    def __init__(self, details: str) -> None:
        self.details = details

    def service(self, handler_call_details):
        def fail(request, context):
            context.abort(grpc.StatusCode.UNKNOWN, self.details)

        return grpc.unary_unary_rpc_method_handler(fail)


@pytest.mark.parametrize("details", ["", "{}"])
def test_a_grpc_error_without_details_says_so(details, tmp_path):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[_Silent(details)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        image = images.save(images.photo("chelsea"), tmp_path / "cat.jpg")
        proc = tfcompare("run", image, "--backend", f"quiet=127.0.0.1:{port}/m", "--repeats", "1")
    finally:
        server.stop(0)
    assert proc.returncode != 0
    assert "the server answered UNKNOWN without saying why" in proc.stderr, proc.stderr
    assert ": {}" not in proc.stderr


def _http_server(answer: bytes) -> tuple[socket.socket, int]:
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(10)
                while conn.recv(65536):
                    conn.sendall(answer)
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


def test_a_rest_error_without_a_message_says_so(tmp_path):
    sock, port = _http_server(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    try:
        image = images.save(images.photo("chelsea"), tmp_path / "cat.jpg")
        proc = tfcompare("run", image, "--backend", f"q=127.0.0.1:{port}/m", "--rest")
    finally:
        sock.close()
    assert "HTTP 500 without an error message" in proc.stderr, proc.stderr
    assert ": {}" not in proc.stderr


def test_a_kubernetes_error_nested_past_the_stack_is_a_message(tmp_path, monkeypatch):
    body = b"[" * 200_000 + b"]" * 200_000
    sock, port = _http_server(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: t, context: {cluster: c, user: u, namespace: tfs}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    try:
        proc = tfcompare("cluster", "list")
    finally:
        sock.close()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "recursion" not in proc.stderr, proc.stderr[-2000:]
    assert "tfcompare cluster list:" in proc.stderr


def test_an_agent_image_must_be_an_image_reference():
    proc = tfcompare(
        "load",
        "x.jpg",
        "--backend",
        "a=k8s://tfs/svc/m",
        "--in-cluster",
        "--agent-image",
        "agent:1\nevil: true",
    )
    assert proc.returncode == 2
    assert "is not a container image reference" in proc.stderr
