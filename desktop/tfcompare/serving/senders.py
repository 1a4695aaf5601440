"""Asynchronous senders for the load engine: one prepared request in, a status code out.

gRPC goes through ``grpc.aio`` with a raw (bytes → bytes) method, so the timed path does no
protobuf work; HTTP through an ``aiohttp`` session. Answers are not parsed: under load only the
status matters. Which sender a protocol uses is its ``transport``
(``ServingProtocol.sender``).
"""

from __future__ import annotations

import asyncio
import math
import ssl
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import MAX_MESSAGE_BYTES, PreparedRequest, http_code_name

if TYPE_CHECKING:
    import aiohttp

STREAMS_PER_CHANNEL = 64
MAX_CHANNELS = 8
# The most of one answer read under load (see serving.http.MAX_ANSWER_BYTES)
MAX_ANSWER_BYTES = 64 << 20


class Sender:
    """``await send(request) -> code`` (``"OK"`` or a gRPC status name)."""

    async def open(self) -> None:
        return None

    async def send(self, request: PreparedRequest) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:
        return None


class GrpcSender(Sender):
    """Round-robins calls over a few channels (separate TCP connections) so that one HTTP/2
    connection's stream limit never caps the requested concurrency."""

    def __init__(
        self, spec: BackendSpec, address: str, timeout_s: float, concurrency: float
    ) -> None:
        self.spec = spec
        self.address = address
        self.timeout_s = timeout_s
        self.n_channels = max(1, min(MAX_CHANNELS, math.ceil(concurrency / STREAMS_PER_CHANNEL)))
        self._channels: list[grpc.aio.Channel] = []
        self._calls: list[dict[str, object]] = []
        self._next = 0
        self._metadata = tuple((k.lower(), v) for k, v in spec.headers) or None

    async def open(self) -> None:
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", "tfcompare-load"),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if self.spec.host_header:  # ingress routing, as the comparison client does
            options.append(("grpc.default_authority", self.spec.host_header))
        ca = self.spec.tls_ca
        for _ in range(self.n_channels):
            if ca:
                with open(ca, "rb") as fh:
                    creds = grpc.ssl_channel_credentials(fh.read())
                channel = grpc.aio.secure_channel(self.address, creds, options)
            else:
                channel = grpc.aio.insecure_channel(self.address, options)
            self._channels.append(channel)
            self._calls.append({})

    def _call(self, i: int, method: str):
        calls = self._calls[i]
        call = calls.get(method)
        if call is None:
            call = calls[method] = self._channels[i].unary_unary(method)
        return call

    async def send(self, request: PreparedRequest) -> str:
        i = self._next
        self._next = (i + 1) % len(self._channels)
        try:
            await self._call(i, request.path)(
                request.body, timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            return code.name if code is not None else "UNKNOWN"
        return "OK"

    async def close(self) -> None:
        await asyncio.gather(*(c.close(grace=None) for c in self._channels), return_exceptions=True)


class HttpSender(Sender):
    """HTTP POSTs over aiohttp keep-alive connections."""

    def __init__(
        self, spec: BackendSpec, address: str, timeout_s: float, concurrency: float
    ) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self.base = f"{'https' if spec.tls_ca else 'http'}://{address}"

    async def open(self) -> None:
        import aiohttp

        ssl_ctx = ssl.create_default_context(cafile=self.spec.tls_ca) if self.spec.tls_ca else None
        connector = aiohttp.TCPConnector(limit=0, ssl=ssl_ctx if ssl_ctx else False)
        headers = {"Content-Type": "application/json", **dict(self.spec.headers)}
        if self.spec.host_header:
            headers["Host"] = self.spec.host_header
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        )

    async def send(self, request: PreparedRequest) -> str:
        import aiohttp

        if self._session is None:
            raise RuntimeError("HttpSender.send() before open()")
        try:
            async with self._session.post(
                self.base + request.path, data=request.body, headers=dict(request.headers) or None
            ) as resp:
                size = 0  # the answer is read to the end, not kept: only its status counts
                async for chunk in resp.content.iter_any():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        resp.close()
                        return "RESOURCE_EXHAUSTED"
                if resp.status == 200:
                    return "OK"
                return http_code_name(resp.status)
        except TimeoutError:
            return "DEADLINE_EXCEEDED"
        except aiohttp.ClientError:
            return "UNAVAILABLE"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
