"""Scripted Open Inference Protocol servers for tests: real HTTP/1.1 and real gRPC on 127.0.0.1
that answer what a test tells them — the protocol's messages, well-formed or hostile (malformed
JSON, a binary header that lies about its length, a shape that does not fit, a model that is
not ready) — and record what they were sent (paths, headers, bodies, the gRPC ``:authority``).

The gRPC server speaks the real protocol: its answers are ``grpc_predict_v2_pb2`` messages (or
bytes a test crafts), served under ``/inference.GRPCInferenceService/…``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

from tfcompare.serving import grpc_predict_v2_pb2 as pb

# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpCall:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass
class ScriptedHttp:
    """``routes``: (method, path) → an Answer or a function of the HttpCall giving one; anything
    else is 404 ``{"error": "no route"}``. ``calls`` records every request."""

    routes: dict[tuple[str, str], Answer | Callable[[HttpCall], Answer]] = field(
        default_factory=dict
    )
    calls: list[HttpCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                call = HttpCall(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                script.calls.append(call)
                route = script.routes.get((self.command, self.path))
                if route is None:
                    status, headers, data = 404, {}, b'{"error": "no route"}'
                else:
                    status, headers, data = route(call) if callable(route) else route
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop to look again: every 0.02 s, not the default 0.5 s
        threading.Thread(
            target=lambda: self.server.serve_forever(poll_interval=0.02), daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- gRPC

SERVICE = "/inference.GRPCInferenceService/"


@dataclass
class GrpcCall:
    method: str
    request: bytes
    authority: str
    metadata: dict[str, str]


class ScriptedGrpc:
    """``handlers``: method name (``ModelInfer``…) → function(request bytes, context) giving the
    answer's bytes (or a protobuf message), or calling ``context.abort``. ``calls`` records
    every call with its ``:authority``."""

    def __init__(self, handlers: dict[str, Callable]) -> None:
        self.handlers = handlers
        self.calls: list[GrpcCall] = []
        script = self

        class Generic(grpc.GenericRpcHandler):
            def service(self, details):
                name = details.method.removeprefix(SERVICE)
                handler = script.handlers.get(name)
                if handler is None:
                    return None

                def run(request: bytes, context):
                    # the call's :authority (gRPC's Python server keeps it with the call)
                    host = context._rpc_event.call_details.host
                    script.calls.append(
                        GrpcCall(
                            name,
                            request,
                            host.decode() if isinstance(host, bytes) else str(host),
                            dict(context.invocation_metadata()),
                        )
                    )
                    answer = handler(request, context)
                    return answer if isinstance(answer, bytes) else answer.SerializeToString()

                return grpc.unary_unary_rpc_method_handler(run)

        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers((Generic(),))
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(None)


def tensor_metadata(
    name: str = "m",
    inputs=(("image", "FP32", (-1, 32, 32, 3)),),
    outputs=(("probabilities", "FP32", (-1, 1000)),),
    versions=("1",),
) -> pb.ModelMetadataResponse:
    """A ModelMetadataResponse with these inputs and outputs ((name, datatype, shape)…)."""
    resp = pb.ModelMetadataResponse(name=name, versions=list(versions), platform="test")
    for target, items in ((resp.inputs, inputs), (resp.outputs, outputs)):
        for tensor_name, datatype, shape in items:
            target.add(name=tensor_name, datatype=datatype, shape=list(shape))
    return resp
