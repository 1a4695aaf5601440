"""A backend that answers without end, or one byte at a time: tfcompare's REST readers stop at a
size limit or at the request's deadline, with a clear error, instead of filling memory or
waiting forever (a server trickling bytes resets the socket's own timeout with every byte)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc

import pytest
from waiting import wait_for

from tfcompare.load.load_plan import LoadTarget
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest
from tfcompare.serving.rest_client import MAX_ANSWER_BYTES, RestClient
from tfcompare.serving.senders import HttpSender


class HostileServer:
    """HTTP/1.1 on 127.0.0.1 that answers every request in one of two ways: ``endless`` (a
    chunked 200 that never ends) or ``trickle`` (a 200 of 1000 bytes, one byte every 0.2 s);
    ``fine`` answers a model status, keeping the connection open for the next request."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        self.trickled = 0  # bytes of the trickled body sent
        self.hung_up = threading.Event()  # a client closed its connection before the end
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # the request (small, in one piece on loopback)
            if self.mode == "fine":
                body = b'{"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}'
                answer = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                conn.sendall(answer)
                while conn.recv(65536):  # the same connection's next requests
                    conn.sendall(answer)
            elif self.mode == "endless":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
                while not self.stop.is_set():
                    conn.sendall(chunk)
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000\r\n\r\n"
                )
                for _ in range(1000):
                    if self.stop.is_set():
                        break
                    conn.sendall(b" ")
                    self.trickled += 1
                    time.sleep(0.2)  # the stand-in's behaviour: one byte every 0.2 s
        except OSError:
            self.hung_up.set()  # the client hung up: what it should do
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture(params=["endless", "trickle"])
def hostile(request):
    server = HostileServer(request.param)
    yield server
    server.close()


def test_answers_read_to_the_end_keep_the_connection_for_the_next_request():
    server = HostileServer("fine")
    client = RestClient(BackendSpec("ok", f"127.0.0.1:{server.port}", protocol="rest", model="m"))
    try:
        assert [client.status().versions for _ in range(3)] == [((1, "AVAILABLE"),)] * 3
        assert server.connections == 1
    finally:
        client.close()
        server.close()


def ended_early(hostile: HostileServer) -> None:
    """The client hung up on the server before the answer's end (1000 bytes take 200 s): it
    stopped at its deadline, which a socket timeout renewed by every byte would not do."""
    if hostile.mode == "trickle":
        assert hostile.trickled < 1000
    wait_for(hostile.hung_up.is_set, 10, "the client closed the connection")


def test_the_rest_client_stops_at_the_limit_or_the_deadline(hostile):
    client = RestClient(
        BackendSpec("odd", f"127.0.0.1:{hostile.port}", protocol="rest", model="m", timeout_s=0.5)
    )
    tracemalloc.start()
    with pytest.raises(ServingError) as raised:
        client.status()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    client.close()
    if hostile.mode == "endless":
        assert raised.value.code == "RESOURCE_EXHAUSTED"
        assert f"larger than {MAX_ANSWER_BYTES >> 20} MB" in raised.value.message
        assert peak < 3 * MAX_ANSWER_BYTES  # the limit, not what the server would send
    else:
        assert raised.value.code == "DEADLINE_EXCEEDED" and "within 0.5 s" in raised.value.message
    ended_early(hostile)


def test_the_load_engine_counts_such_answers_as_errors(hostile):
    spec = BackendSpec("odd", f"127.0.0.1:{hostile.port}", protocol="rest", model="m")
    request = PreparedRequest("/v1/models/m:predict", b"{}")
    target = LoadTarget(spec, f"127.0.0.1:{hostile.port}", "original", "original", (request,))

    async def one() -> str:
        sender = HttpSender(spec, target.address, timeout_s=0.5, concurrency=1)
        await sender.open()
        try:
            return await sender.send(request)
        finally:
            await sender.close()

    code = asyncio.run(one())
    assert code == ("RESOURCE_EXHAUSTED" if hostile.mode == "endless" else "DEADLINE_EXCEEDED")
    ended_early(hostile)


def test_the_metrics_reader_stops_at_the_limit_or_the_deadline(hostile):
    from tfcompare.serving.server_metrics import MAX_PAGE_BYTES, MetricsError, MetricsScraper

    scraper = MetricsScraper(
        f"http://127.0.0.1:{hostile.port}/monitoring/prometheus/metrics", timeout_s=0.5
    )
    with pytest.raises(MetricsError) as raised:
        scraper.fetch()
    scraper.close()
    if hostile.mode == "endless":
        assert f"sent a page larger than {MAX_PAGE_BYTES >> 20} MB" in str(raised.value)
    else:
        assert "did not answer within" in str(raised.value)
    ended_early(hostile)
