"""Raw HTTP/1.1 over a socket, for testing the local REST server with requests no client library
would send (bad Content-Length, half-sent heads, pipelining)."""

from __future__ import annotations

import json
import socket


def connect(backend, timeout: float = 10.0) -> socket.socket:
    host, port = backend.rest.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def exchange(backend, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes the connection (or the timeout)."""
    with connect(backend, timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    return out


def responses(raw: bytes) -> list[tuple[int, dict]]:
    """(status, JSON body) of each response in ``raw`` (responses carry Content-Length)."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        found.append((status, json.loads(rest[:length])))
        raw = rest[length:]
    return found


def post(body: bytes, extra: bytes = b"", path: bytes = b"/v1/models/tiny:predict") -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


STATUS = b"GET /v1/models/tiny HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def still_answers(backend) -> None:
    assert responses(exchange(backend, STATUS))[0][0] == 200


def start_rest_server(model, log_dir, **options: float):
    """A `tfcompare serve --rest-port 0` with REST options (``read_timeout=2`` →
    ``--rest-read-timeout 2``)."""
    from backends import start_backend

    extra = [a for k, v in options.items() for a in (f"--rest-{k.replace('_', '-')}", str(v))]
    return start_backend(model, threads=1, rest=True, log_dir=log_dir, extra_args=extra)
