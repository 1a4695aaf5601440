"""An in-memory serving protocol for the fast test tier, as httpx's MockTransport is for HTTP.

``FakeProtocol`` is registered in tfcompare's protocol table (``tfcompare.serving.protocols.
PROTOCOLS``) under the name ``fake`` by the ``fake_servers`` fixture, and removed after the test.
A backend spec with ``protocol="fake"`` then goes through every real layer — the window and
capacity controllers, the sweep pipeline, the load engine, the comparison runner, the status
checks — and only the last hop is in memory: its comparison client and its load sender answer from
a :class:`FakeServer` registered at the spec's address, with fixed latencies and fixed answers.

    def test_x(fake_servers):
        server, spec = fake_servers.add("a", latency_s=0.002, slots=2)
        ...   # spec: BackendSpec("a", "fake-a:1", protocol="fake", model="tiny")

A server serves ``slots`` requests at once; more wait their turn, so latency grows with load as a
real server's does. ``gate`` (a threading.Event, set) lets a test hold every request where it is
(``server.hold()`` / ``server.release()``); ``reachable = False`` makes it refuse connections.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from tfcompare.serving import outputs
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import (
    BackendClient,
    PreparedRequest,
    SignatureDef,
    choose_signature,
    reachability,
)
from tfcompare.serving.inputs import RequestInput, TensorInfo
from tfcompare.serving.protocols import PROTOCOLS
from tfcompare.serving.protocols.base import ServingProtocol
from tfcompare.serving.senders import Sender

NAME = "fake"
PREDICT_PATH = "/fake/predict"
ANSWER = (("tabby", 0.62), ("tiger cat", 0.2), ("Egyptian cat", 0.1), ("lynx", 0.05), ("fox", 0.01))


@dataclass
class FakeServer:
    """One in-memory backend: the model it serves, how long a request takes and what it answers."""

    address: str
    model: str = "tiny"
    latency_s: float = 0.002
    slots: int = 4
    answer: tuple[tuple[str, float], ...] = ANSWER
    reachable: bool = True
    gate: threading.Event = field(default_factory=threading.Event)
    received: int = 0  # requests answered or refused, both paths
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _busy: threading.Semaphore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.gate.set()
        self._busy = threading.Semaphore(self.slots)

    def hold(self) -> None:
        """Requests wait (on both paths) until :meth:`release`."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def count(self) -> None:
        with self._lock:
            self.received += 1

    def check(self, model: str | None) -> str | None:
        """Why a request for ``model`` is refused (a gRPC status name), or None."""
        if not self.reachable:
            return "UNAVAILABLE"
        if model != self.model:
            return "NOT_FOUND"
        return None

    def serve(self) -> None:
        """The comparison client's path: blocking, in the caller's thread."""
        self.count()
        self.gate.wait()
        assert self._busy is not None
        with self._busy:
            time.sleep(self.latency_s)  # the stand-in's behaviour: a request takes this long


SERVERS: dict[str, FakeServer] = {}


class FakeClient(BackendClient):
    """The comparison client: status, metadata, prepare and predict against a FakeServer."""

    def __init__(self, spec, address=None, where=None) -> None:
        super().__init__(spec, address, where)
        self.server = SERVERS.get(self.address)

    def _refused(self) -> ServingError | None:
        server = self.server
        if server is None or not server.reachable:
            detail = "connection refused"
            return ServingError("UNAVAILABLE", reachability(self.where, detail))
        if self.spec.model != server.model:
            return ServingError(
                "NOT_FOUND", f"Servable not found for request: Latest({self.spec.model})"
            )
        return None

    def status(self) -> ModelStatus:
        refused = self._refused()
        if refused is not None:
            raise refused
        return ModelStatus(True, ((1, "AVAILABLE"),))

    def metadata(self) -> SignatureInfo:
        refused = self._refused()
        if refused is not None:
            raise refused
        sig = SignatureDef(
            "serving_default",
            (TensorInfo("images", "string", (-1,)),),
            (TensorInfo("classes", "string", (-1, 5)), TensorInfo("scores", "float32", (-1, 5))),
        )
        return choose_signature({sig.name: sig}, self.spec.signature, self.spec.model, 1)

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        body = value.data if isinstance(value.data, bytes) else value.array.tobytes()
        return PreparedRequest(PREDICT_PATH, (self.spec.model or "").encode() + b"\0" + body)

    def send(self, request: PreparedRequest, timeout: float):
        """The exchange: the fake server serves (its latency is the call's)."""
        refused = self._refused()
        if refused is not None:
            raise refused
        self.server.serve()
        return self.server.answer

    def read(self, raw, signature: SignatureInfo):
        labels = np.array([[label for label, _ in raw]], dtype=object)
        scores = np.array([[score for _, score in raw]], dtype=np.float32)
        return (*outputs.top5({"classes": labels, "scores": scores}, self.names), 1)

    def close(self) -> None:
        return None


class FakeSender(Sender):
    """The load engine's sender: awaits the server's latency, ``slots`` requests at a time."""

    def __init__(self, spec, address, timeout_s, concurrency) -> None:
        self.spec = spec
        self.server = SERVERS.get(address)
        self.timeout_s = timeout_s
        self._slots: asyncio.Semaphore | None = None

    async def open(self) -> None:
        self._slots = asyncio.Semaphore(self.server.slots if self.server else 1)

    async def send(self, request: PreparedRequest) -> str:
        server = self.server
        if server is None:
            return "UNAVAILABLE"
        server.count()
        model = request.body.partition(b"\0")[0].decode()
        refused = server.check(model)
        if refused:
            return refused
        while not server.gate.is_set():  # held by the test: wait (polling), cancellably
            await asyncio.sleep(0.005)
        assert self._slots is not None
        async with self._slots:
            await asyncio.sleep(server.latency_s)  # the stand-in's behaviour: its latency
        return "OK"


class FakeProtocol(ServingProtocol):
    name = NAME
    label = "in-memory test server"
    server = "tests/fake_transport.py"
    transport = "grpc"
    default_port = 1

    def client(self, spec, address=None, where=None):
        return FakeClient(spec, address, where)

    def sender(self, spec, address, timeout_s, concurrency):
        return FakeSender(spec, address, timeout_s, concurrency)

    def metrics_urls(self, address: str, tls: bool) -> tuple[str, ...]:
        return ()  # no server metrics: the sweep's server-time column stays empty


class FakeServers:
    """What the ``fake_servers`` fixture yields: ``add(name, **server options)`` → (server, spec)."""

    def add(self, name: str, *, model: str = "tiny", **options) -> tuple[FakeServer, BackendSpec]:
        address = f"fake-{name}:1"
        server = SERVERS[address] = FakeServer(address, model=model, **options)
        return server, BackendSpec(name, address, protocol=NAME, model=model)


@pytest.fixture
def fake_servers():
    """The ``fake`` protocol registered for one test, with no servers yet (``add`` them)."""
    PROTOCOLS[NAME] = FakeProtocol()
    try:
        yield FakeServers()
    finally:
        for server in SERVERS.values():
            server.release()  # nothing left waiting on a held server
        SERVERS.clear()
        del PROTOCOLS[NAME]
