"""Asynchronous senders: one pre-serialised request in, a status code out.

gRPC goes through ``grpc.aio`` with a raw (bytes → bytes) Predict method, so the timed path does
no protobuf work; REST through an ``aiohttp`` session with the ``:predict`` body prepared once.
Answers are not parsed: under load only the status matters, and parsing would load the client.
"""

from __future__ import annotations

import asyncio
import math

import grpc
import grpc.aio

from tfcompare.load.load_plan import LoadTarget
from tfcompare.serving.base import MAX_MESSAGE_BYTES
from tfcompare.serving.grpc_client import PREDICT_METHOD
from tfcompare.serving.rest_client import _HTTP_CODES, MAX_ANSWER_BYTES

STREAMS_PER_CHANNEL = 64
MAX_CHANNELS = 8


class Sender:
    """``await send(payload) -> code`` (``"OK"`` or a gRPC status name)."""

    async def open(self) -> None:
        return None

    async def send(self, payload: bytes) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:
        return None


class GrpcSender(Sender):
    """Round-robins calls over a few channels (separate TCP connections) so that one HTTP/2
    connection's stream limit never caps the requested concurrency."""

    def __init__(self, target: LoadTarget, timeout_s: float, concurrency: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.n_channels = max(1, min(MAX_CHANNELS, math.ceil(concurrency / STREAMS_PER_CHANNEL)))
        self._calls: list = []
        self._channels: list[grpc.aio.Channel] = []
        self._next = 0
        self._metadata = tuple((k.lower(), v) for k, v in target.backend.headers) or None

    async def open(self) -> None:
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", "tfcompare-load"),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        ca = self.target.backend.tls_ca
        for _ in range(self.n_channels):
            if ca:
                with open(ca, "rb") as fh:
                    creds = grpc.ssl_channel_credentials(fh.read())
                channel = grpc.aio.secure_channel(self.target.address, creds, options)
            else:
                channel = grpc.aio.insecure_channel(self.target.address, options)
            self._channels.append(channel)
            self._calls.append(channel.unary_unary(PREDICT_METHOD))

    async def send(self, payload: bytes) -> str:
        i = self._next
        self._next = (i + 1) % len(self._calls)
        try:
            await self._calls[i](payload, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            return code.name if code is not None else "UNKNOWN"
        return "OK"

    async def close(self) -> None:
        await asyncio.gather(*(c.close(grace=None) for c in self._channels), return_exceptions=True)


class RestSender(Sender):
    """TF Serving REST ``:predict`` over aiohttp keep-alive connections."""

    def __init__(self, target: LoadTarget, timeout_s: float, concurrency: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._session = None
        scheme = "https" if target.backend.tls_ca else "http"
        self.url = f"{scheme}://{target.address}{target.path}"

    async def open(self) -> None:
        import ssl

        import aiohttp

        ssl_ctx = (
            ssl.create_default_context(cafile=self.target.backend.tls_ca)
            if self.target.backend.tls_ca
            else None
        )
        connector = aiohttp.TCPConnector(limit=0, ssl=ssl_ctx if ssl_ctx else False)
        headers = {"Content-Type": "application/json", **dict(self.target.backend.headers)}
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        )

    async def send(self, payload: bytes) -> str:
        import aiohttp

        try:
            async with self._session.post(self.url, data=payload) as resp:
                size = 0  # the answer is read to the end, not kept: only its status counts
                async for chunk in resp.content.iter_any():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        resp.close()
                        return "RESOURCE_EXHAUSTED"
                if resp.status == 200:
                    return "OK"
                return _HTTP_CODES.get(resp.status, "UNKNOWN")
        except TimeoutError:
            return "DEADLINE_EXCEEDED"
        except aiohttp.ClientError:
            return "UNAVAILABLE"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def make_sender(target: LoadTarget, timeout_s: float, concurrency: float) -> Sender:
    if target.backend.protocol == "rest":
        return RestSender(target, timeout_s, concurrency)
    return GrpcSender(target, timeout_s, concurrency)
