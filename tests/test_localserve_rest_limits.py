"""The local REST server against hostile and broken clients (raw sockets, real `tfcompare serve`).

Every bad request gets TF Serving's ``{"error": …}`` body with a 4xx status, nothing holds the
server, and the log never shows a traceback.
"""

from __future__ import annotations

import base64
import json
import socket

import pytest
import stub_client as sc
from rest_raw import (
    STATUS,
    connect,
    exchange,
    post,
    read_all,
    responses,
    start_rest_server,
    still_answers,
)
from waiting import wait_for

pytestmark = pytest.mark.slow

READ_TIMEOUT = 2  # --rest-read-timeout of the server under test
MAX_CONNECTIONS = 24
MAX_BODY_MB = 1


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    backend = start_rest_server(
        tiny_model,
        tmp_path_factory.mktemp("rest-limits"),
        read_timeout=READ_TIMEOUT,
        max_connections=MAX_CONNECTIONS,
        max_body_mb=MAX_BODY_MB,
    )
    yield backend
    backend.stop()


def _no_traceback(backend) -> None:
    log = backend.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]


def test_huge_content_length_is_refused_at_once(server):
    """Content-Length 8e9 with a 2-byte body: 413 without reserving or waiting for the body."""
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 8000000000\r\n\r\n{}"
        )
        status, body = responses(read_all(sock))[0]
    assert status == 413 and "larger than the server's limit" in body["error"]
    still_answers(server)
    _no_traceback(server)


def test_body_over_the_limit_is_refused(server):
    big = json.dumps({"instances": [{"b64": "A" * (MAX_BODY_MB * 2**20)}]}).encode()
    status, body = responses(exchange(server, post(big)))[0]
    assert status == 413 and list(body) == ["error"]


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e15", b"1, 2"])
def test_bad_content_length_gets_400(server, length):
    raw = exchange(
        server,
        b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\n"
        b"Content-Length: " + length + b"\r\n\r\n{}",
    )
    status, body = responses(raw)[0]
    assert status == 400 and "Content-Length" in body["error"]
    _no_traceback(server)


def test_headers_without_body_time_out_with_408(server):
    raw = exchange(  # the server's read timeout answers; a hang would be this socket's timeout
        server,
        b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n",
        timeout=READ_TIMEOUT + 20,
    )
    status, body = responses(raw)[0]
    assert status == 408 and "no request body data" in body["error"]


def test_slowloris_heads_are_dropped_and_others_still_served(server):
    """Many half-sent request heads: others are answered meanwhile; the heads are closed after
    the read timeout."""
    attackers = [connect(server, READ_TIMEOUT + 20) for _ in range(MAX_CONNECTIONS - 4)]
    try:
        for sock in attackers:
            sock.sendall(b"GET /v1/models/tiny HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        still_answers(server)
        assert sc.status(server.grpc, "tiny").model_version_status[0].state == 30
        for sock in attackers:
            assert read_all(sock) == b""  # closed by the server, no request was completed
    finally:
        for sock in attackers:
            sock.close()
    still_answers(server)


def test_connections_over_the_cap_get_503(server):
    held = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:

        def refused():  # once the server has taken them all, the next one is answered 503
            answer = responses(exchange(server, STATUS))[0]
            return answer if answer[0] == 503 else None

        status, body = wait_for(refused, 10, "a connection over the cap is answered 503")
        assert status == 503 and "too many connections" in body["error"]
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: responses(exchange(server, STATUS))[0][0] == 200, 10, "served again")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("name", "body", "path", "text"),
    [
        ("100k-deep JSON", _nested(100_000), b"/v1/models/tiny:predict", "JSON"),
        (
            "900-deep instances",
            b'{"instances": ' + b"[" * 900 + b'"x"' + b"]" * 900 + b"}",
            b"/v1/models/tiny:predict",
            "nested deeper",
        ),
        (
            "signature_name list",
            b'{"signature_name": [1], "instances": [{"b64": ""}]}',
            b"/v1/models/tiny:predict",
            "signature_name",
        ),
        (
            "signature_name object",
            b'{"signature_name": {}, "instances": [{"b64": ""}]}',
            b"/v1/models/tiny:predict",
            "signature_name",
        ),
        (
            "5000-digit version",
            b'{"instances": [{"b64": ""}]}',
            b"/v1/models/tiny/versions/" + b"9" * 5000 + b":predict",
            "version",
        ),
        (
            "huge integer input",
            b'{"instances": [' + b"9" * 5000 + b"]}",
            b"/v1/models/tiny:predict",
            "JSON",
        ),
    ],
)
def test_bad_requests_get_400_with_an_error_body(server, name, body, path, text):
    status, answer = responses(exchange(server, post(body, path=path)))[0]
    assert status == 400, (name, answer)
    assert list(answer) == ["error"] and text in answer["error"], (name, answer)
    _no_traceback(server)


def test_chunked_body_is_read_and_the_connection_stays_in_step(server):
    image = base64.b64encode(sc.encode(sc.pattern(seed=3))).decode()
    body = json.dumps({"instances": [{"b64": image}]}).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 100]), body[i : i + 100])
        for i in range(0, len(body), 100)
    )
    raw = exchange(
        server,
        b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: t\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n" + STATUS,
    )
    (predict_status, predicted), (status_status, status) = responses(raw)
    assert predict_status == 200 and len(predicted["predictions"][0]["classes"]) == 5
    assert status_status == 200 and status["model_version_status"][0]["state"] == "AVAILABLE"


def test_client_disconnect_is_one_log_line(server):
    image = base64.b64encode(sc.encode(sc.pattern(256, 256, seed=4))).decode()
    body = json.dumps({"instances": [{"b64": image}] * 8}).encode()
    before = server.log_path.read_text(errors="replace").count("went away")
    sock = connect(server)
    sock.sendall(post(body))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # reset: the answer cannot be delivered
    wait_for(
        lambda: server.log_path.read_text(errors="replace").count("went away") > before,
        20,
        "the server logged the client going away",
    )
    still_answers(server)
    log = server.log_path.read_text(errors="replace")
    assert log.count("went away") == before + 1
    _no_traceback(server)
