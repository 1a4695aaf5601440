"""HTTP/1.1 exchanges bounded by one deadline, over keep-alive connections (REST backends and
metrics pages).

The HTTP/1.1 rules — message framing, chunked bodies, interim (1xx) responses, keep-alive — come
from ``h11`` (the protocol engine httpx is built on). The socket I/O around it is tfcompare's own
for one reason: the request's deadline bounds the *whole* exchange — connecting, sending, the
status line, the headers and the body. The maintained synchronous clients (httpx, urllib3,
``http.client``) bound each socket operation, so a server trickling one byte per read restarts
their timeout forever, and ``http.client`` returns a ``103 Early Hints`` as if it were the answer,
leaving the real answer to be read as the next request's (an answer attributed to the wrong
request). Here every ``recv`` waits at most for what is left until the deadline; interim responses
are read and dropped (at most ``MAX_INTERIM`` of them); a connection is reused only after a
complete exchange, and one that failed half-way is closed, never reused.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import h11

MAX_INTERIM = 16  # interim (1xx) responses accepted before one answer; more is a broken server
RECV_BYTES = 1 << 18
MAX_HEADER_BYTES = 64 << 10


class HttpTimeout(TimeoutError):
    """The deadline passed before the whole answer arrived."""


class BodyTooLarge(Exception):
    """An answer went on past the reader's limit."""


class HttpProtocolError(ConnectionError):
    """The server broke HTTP/1.1 (not an HTTP/1.x answer, a bad framing, endless 1xx)."""


class StaleConnection(ConnectionError):
    """A reused keep-alive connection was closed by the server before it answered anything."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class _Connection:
    """One socket and its h11 state machine."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.used = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise HttpTimeout("timed out")
    return left


class HttpPool:
    """Keep-alive connections to one ``host:port`` (TLS with ``tls``); ``request`` is
    thread-safe: each call borrows an idle connection or opens one."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        host_header: str | None = None,
        max_idle: int = 8,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.host_header = host_header or (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ connections

    def _open(self, deadline: float) -> _Connection:
        sock = socket.create_connection((self.host, self.port), timeout=_left(deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock.settimeout(_left(deadline))
                server_name = self.host_header.rsplit(":", 1)[0].strip("[]") or self.host
                sock = self.tls.wrap_socket(sock, server_hostname=server_name)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _borrow(self) -> _Connection | None:
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("client closed")
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ------------------------------------------------------------------ one exchange

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        deadline: float,
        limit: int,
    ) -> HttpAnswer:
        """Send one request and read its whole answer before ``deadline`` (``time.monotonic``).

        Raises HttpTimeout, BodyTooLarge (past ``limit`` bytes of body), HttpProtocolError,
        ssl.SSLError or OSError. A reused connection that the server had closed is retried once
        on a fresh connection (nothing of the answer had arrived)."""
        conn = self._borrow()
        if conn is not None:
            try:
                return self._exchange(conn, method, path, headers, body, deadline, limit)
            except StaleConnection:
                self.drop_idle()
        conn = self._open(deadline)
        try:
            return self._exchange(conn, method, path, headers, body, deadline, limit)
        except StaleConnection as exc:
            raise ConnectionResetError("connection closed by the server") from exc

    def _exchange(self, conn, method, path, headers, body, deadline, limit) -> HttpAnswer:
        reused, conn.used = conn.used, True
        received = False
        try:
            all_headers = [("Host", self.host_header)]
            all_headers += [(k, v) for k, v in headers if k.lower() != "host"]
            if body is not None:
                all_headers.append(("Content-Length", str(len(body))))
            out = conn.h11.send(h11.Request(method=method, target=path, headers=all_headers))
            if body:
                out += conn.h11.send(h11.Data(data=body))
            out += conn.h11.send(h11.EndOfMessage())
            self._send_all(conn.sock, out, deadline)
            status, answer_headers, chunks, size, interim = 0, {}, [], 0, 0
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    conn.sock.settimeout(_left(deadline))
                    try:
                        data = conn.sock.recv(RECV_BYTES)
                    except TimeoutError:
                        raise HttpTimeout("timed out") from None
                    if not data and reused and not received:
                        raise StaleConnection
                    received = received or bool(data)
                    conn.h11.receive_data(data)
                    continue
                if isinstance(event, h11.InformationalResponse):
                    interim += 1  # 100 Continue, 103 Early Hints…: not the answer
                    if interim > MAX_INTERIM:
                        raise HttpProtocolError(
                            f"the server sent more than {MAX_INTERIM} interim (1xx) responses"
                        )
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    answer_headers = {
                        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers
                    }
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > limit:
                        raise BodyTooLarge
                    chunks.append(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionResetError("connection closed by the server")
        except h11.RemoteProtocolError as exc:
            conn.close()
            if reused and not received:
                raise StaleConnection from exc
            raise HttpProtocolError(f"not HTTP/1.x ({exc})") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            if reused and not received:
                raise StaleConnection from exc
            raise
        except BaseException:
            conn.close()
            raise
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            self._give_back(conn)
        else:
            conn.close()
        return HttpAnswer(status, answer_headers, b"".join(chunks))

    @staticmethod
    def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            sock.settimeout(_left(deadline))
            try:
                sent = sock.send(view)
            except TimeoutError:
                raise HttpTimeout("timed out") from None
            view = view[sent:]


def pool_for(
    address: str,
    *,
    tls_ca: str | None = None,
    tls: bool | None = None,
    host_header: str | None = None,
) -> HttpPool:
    """A pool for ``HOST:PORT``; TLS when ``tls_ca`` is given (verified against it) or ``tls``
    (the system's CAs). Raises ValueError for a bad address, OSError/ssl.SSLError for a CA file
    that cannot be read."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad address {address!r}: expected HOST:PORT")
    context = None
    if tls_ca:
        context = ssl.create_default_context(cafile=tls_ca)
    elif tls:
        context = ssl.create_default_context()
    if context is not None:
        context.set_alpn_protocols(["http/1.1"])
    return HttpPool(host.strip("[]"), int(port), tls=context, host_header=host_header)
