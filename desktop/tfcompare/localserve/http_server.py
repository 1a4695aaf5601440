"""The HTTP side of the REST API (aiohttp): limits, timeouts, TLS, the required header, routes.

A broken or hostile client must not hurt anyone else, so every resource a connection can hold is
bounded: a request head must arrive within the read timeout (aiohttp's keep-alive timer closes a
connection that has not completed its next request by then), a body larger than the limit is
refused with 413 before it is read, a body that stops arriving gets 408 after the read timeout,
and so does one that trickles in: the whole body must arrive within the read timeout plus one
second per ``min_body_rate`` bytes (Apache's mod_reqtimeout "body=…,MinRate=…" rule; TF Serving's
libevent server only times out a connection after 50 s without any data, so a byte every few
seconds holds it). Request bodies buffered at once are bounded in total (503 beyond), and
connections over the cap are answered 503 and closed. Every refusal carries TF Serving's ``{"error": "…"}`` body; nothing
prints a traceback. Predictions run on a thread pool, so the event loop keeps answering others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from tfcompare.localserve import metrics
from tfcompare.localserve.rest import RestApi
from tfcompare.serving.server_metrics import METRICS_PATH


@dataclass(frozen=True)
class RestLimits:
    max_body: int = 256 * 2**20  # bytes; a 2048 px PNG in base64 is ~14 MB
    read_timeout: float = 30.0  # seconds for a request head, or without body data
    max_connections: int = 256
    buffered_bodies: int = 1024 * 2**20  # request bodies held in memory at once, all together
    # a body must arrive within read_timeout + its size / min_body_rate seconds (64 KiB/s: a
    # 14 MB base64 PNG may take 4 minutes; a byte every 10 s is cut off after read_timeout)
    min_body_rate: int = 64 * 2**10


class _OneLine(logging.Formatter):
    """Log records as one line: an exception shows as its type and message, never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"tfcompare serve: rest: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {exc})"
        return text.replace("\n", " ")


_LOG = logging.getLogger("tfcompare.localserve.rest")
_LOG.propagate = False
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(_OneLine())
_LOG.addHandler(_handler)
_LOG.setLevel(logging.INFO)


def _json_response(status: int, message: str, *, close: bool = False) -> web.Response:
    response = web.Response(
        status=status, content_type="application/json", body=json.dumps({"error": message}).encode()
    )
    if close:
        response.force_close()
    return response


class _Refusal(Exception):
    """Answer with this status and TF Serving's error body (and close the connection if asked)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler, answering malformed requests (bad Content-Length, broken
    chunking, oversized headers …) with a JSON error body and no traceback in the log."""

    def handle_error(self, request, status=500, exc=None, message=None):  # noqa: ANN001
        if status >= 500:
            _LOG.warning("%s from %s", status, request.remote, exc_info=exc)
        if request.writer.output_size > 0:  # part of an answer is out: the stream is broken
            raise ConnectionError("cannot answer after a response has started")
        text = message or (getattr(exc, "message", None) if exc else None) or str(exc or "")
        return _json_response(status, f"Malformed request: {text}".strip(), close=True)


class _Busy(asyncio.Protocol):
    """A connection over the cap: answer 503 at once, discard what it sends, close soon after."""

    BODY = json.dumps({"error": "too many connections; retry later"}).encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(self.BODY), self.BODY)
        )
        # Closing while the request is still arriving would reset the connection and lose the
        # answer: give the client a moment to read it.
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def data_received(self, data: bytes) -> None:
        pass


class _Budget:
    """Request-body bytes buffered by all connections together (used from the loop thread only)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise _Refusal(
                503, "server busy: too much request data in flight; retry later", close=True
            )
        self.used += size


async def _read_body(request: web.Request, limits: RestLimits, budget: _Budget) -> list[bytes]:
    """The request body as chunks (already counted in ``budget``; the caller gives them back)."""
    length = request.content_length
    if length is not None and length > limits.max_body:
        raise _Refusal(
            413,
            f"request body of {length} bytes is larger than the server's limit "
            f"of {limits.max_body} bytes",
            close=True,
        )
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while True:
            # the body's deadline grows with what has arrived: slow is fine, a trickle is not
            deadline = started + limits.read_timeout + size / limits.min_body_rate
            wait = min(limits.read_timeout, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(request.content.readany(), wait)
            except TimeoutError:
                if size and wait < limits.read_timeout:
                    raise _Refusal(
                        408,
                        f"the request body arrives too slowly: {size} bytes in "
                        f"{loop.time() - started:.0f} s (the server waits "
                        f"{limits.read_timeout:g} s plus 1 s per {limits.min_body_rate} bytes)",
                        close=True,
                    ) from None
                raise _Refusal(
                    408, f"no request body data for {limits.read_timeout:g} s", close=True
                ) from None
            except ConnectionError:
                _LOG.info(
                    "client %s went away while sending %s %s",
                    request.remote,
                    request.method,
                    request.path,
                )
                raise _Refusal(400, "the request body ended early", close=True) from None
            except HttpProcessingError as exc:  # bad chunk framing, body shorter than announced
                raise _Refusal(400, f"Malformed request body: {exc.message}", close=True) from None
            if not chunk:
                return chunks
            size += len(chunk)
            if size > limits.max_body:
                raise _Refusal(
                    413,
                    f"request body is larger than the server's limit of {limits.max_body} bytes",
                    close=True,
                )
            budget.take(len(chunk))
            chunks.append(chunk)
    except BaseException:
        budget.used -= sum(len(c) for c in chunks)
        raise


def build_app(
    api: RestApi,
    pool: ThreadPoolExecutor,
    limits: RestLimits,
    require_header: tuple[str, str] | None = None,
) -> web.Application:
    """The aiohttp application: routes (specific ones before TF Serving's catch-all) + guards."""
    budget = _Budget(limits.buffered_bodies)

    async def tf_serving(request: web.Request) -> web.StreamResponse:
        chunks = await _read_body(request, limits, budget) if request.body_exists else []
        try:
            body = b"".join(chunks)
            if request.method == "GET":  # status and metadata: quick, answered on the loop
                status, data = api.answer(request.method, request.path, body)
            else:
                status, data = await asyncio.get_running_loop().run_in_executor(
                    pool, api.answer, request.method, request.path, body
                )
        finally:
            budget.used -= sum(len(c) for c in chunks)
        return await send(
            request, web.Response(status=status, body=data, content_type="application/json")
        )

    app = web.Application(client_max_size=limits.max_body, middlewares=[_guard(require_header)])

    async def prometheus(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=metrics.page(request.query_string))
        response.headers["Content-Type"] = metrics.CONTENT_TYPE
        return await send(request, response)

    app.router.add_routes(
        [
            # Specific routes first, then TF Serving's catch-all.
            web.get(METRICS_PATH, prometheus),
            web.route("*", "/{path:.*}", tf_serving),  # /v1/models/…; anything else: "Malformed"
        ]
    )
    return app


async def send(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send ``response`` now; a client that has gone away is logged as one line."""
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        _LOG.info(
            "client %s went away before the answer to %s %s was sent",
            request.remote,
            request.method,
            request.path,
        )
    return response


def _guard(
    require_header: tuple[str, str] | None,
) -> Middleware:
    """Middleware: the required header (401 missing, 403 wrong), refusals and unexpected
    errors as TF Serving's JSON error body."""

    @web.middleware
    async def guard(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
        try:
            if require_header is not None:
                name, value = require_header
                got = request.headers.get(name)
                if got is None:
                    raise _Refusal(401, f"missing {name} header")
                if got != value:
                    raise _Refusal(403, f"wrong {name} header")
            return await handler(request)
        except _Refusal as refusal:
            return _json_response(refusal.status, refusal.message, close=refusal.close)
        except web.HTTPException as exc:
            return _json_response(exc.status, exc.reason, close=exc.status == 413)
        except Exception as exc:  # a bug: answer 500 and keep serving others
            _LOG.warning(
                "internal error answering %s %s", request.method, request.path, exc_info=exc
            )
            return _json_response(500, f"internal error: {type(exc).__name__}: {exc}")

    return guard


class RestServer:
    """The REST API served from its own thread and event loop; ``close()`` stops it."""

    def __init__(
        self,
        app: web.Application,
        pool: ThreadPoolExecutor,
        limits: RestLimits,
        tls: ssl.SSLContext | None,
    ) -> None:
        self._app, self._pool, self._limits, self._tls = app, pool, limits, tls
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="rest", daemon=True)
        self.port = 0

    @staticmethod
    def _on_loop_error(_loop: asyncio.AbstractEventLoop, context: dict) -> None:
        _LOG.info(
            "%s", context.get("message", "connection error"), exc_info=context.get("exception")
        )

    def _protocol(self) -> asyncio.Protocol:
        assert self._runner is not None and self._runner.server is not None
        manager = self._runner.server
        if len(manager.connections) >= self._limits.max_connections:
            return _Busy()
        return _Protocol(
            manager,
            loop=self._loop,
            keepalive_timeout=self._limits.read_timeout,
            lingering_time=min(2.0, self._limits.read_timeout),
            logger=_LOG,
            # no access log: aiohttp's RequestHandler tests ``if access_log`` (AppRunner takes
            # None too), its annotation says Logger only
            access_log=None,  # type: ignore[arg-type]
        )

    async def _start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._server = await self._loop.create_server(
            self._protocol,
            host,
            port,
            ssl=self._tls,
            reuse_address=True,
            backlog=128,
            ssl_handshake_timeout=self._limits.read_timeout if self._tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self, host: str, port: int) -> int:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(host, port), self._loop).result(30)
        except OSError as exc:
            self.close()
            raise OSError(
                f"cannot listen for REST on {host}:{port}: {exc.strerror or exc}"
            ) from exc
        return self.port

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
            except (TimeoutError, OSError, RuntimeError):
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context for the REST port from the same files as gRPC's."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def start_rest(
    api: RestApi,
    host: str,
    port: int,
    *,
    workers: int = 16,
    limits: RestLimits | None = None,
    tls: ssl.SSLContext | None = None,
    require_header: tuple[str, str] | None = None,
) -> RestServer:
    """Start the REST server (own thread); returns it, its bound port in ``.port``."""
    limits = limits or RestLimits()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest-worker")
    server = RestServer(build_app(api, pool, limits, require_header), pool, limits, tls)
    server.start(host, port)
    return server
