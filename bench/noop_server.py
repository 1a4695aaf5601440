"""A gRPC server that answers TF Serving's Predict instantly with an empty PredictResponse.

Used by the load-engine benchmarks as "a backend that answers instantly": it does no protobuf work
(a raw bytes handler) so the client side is what gets measured. Prints ``READY PORT`` on stdout.

usage: python bench/noop_server.py [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc
import grpc.aio

METHOD = "/tensorflow.serving.PredictionService/Predict"


async def main(port: int) -> None:
    async def predict(request: bytes, context) -> bytes:
        return b""

    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(predict)},
    )
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"READY {bound}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port))
    except KeyboardInterrupt:
        sys.exit(0)
