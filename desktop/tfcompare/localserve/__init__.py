"""A local TF-Serving-compatible backend (``tfcompare serve``), run in its own process.

It lets one machine stand in for TF Serving deployments (``--threads N`` ≈ an N-CPU pod) so the
comparison engine, the demo and the tests talk to a real server over real gRPC/REST. Modules:
``servable`` (one loaded version + TF Serving's request semantics), ``grpc_service`` (official
PredictionService/ModelService servicers), ``rest`` (TF Serving's REST API: path + body → JSON),
``http_server`` (its HTTP side on aiohttp: limits, timeouts, TLS, routes), ``tensors``
(TensorProto conversion), ``quiet`` (start-up log filtering), ``main`` (process lifecycle). Importing this package is light; the
submodules import TensorFlow.
"""

# gRPC server options (here, not in grpc_service, so that they can be read without TensorFlow)
GRPC_MAX_MESSAGE = 2**31 - 1  # TF Serving sets INT32_MAX on both directions
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
    ("grpc.max_send_message_length", GRPC_MAX_MESSAGE),
    ("grpc.so_reuseport", 0),
]
# Server side only: connections that hold a file descriptor and do nothing are closed. One that
# has not finished its HTTP/2 (and TLS) handshake within 10 s (gRPC's default: 120 s), one without
# a call for 5 minutes (a GOAWAY: clients reconnect when they next call), and one whose peer stops
# answering keepalive pings.
GRPC_SERVER_OPTIONS = [
    ("grpc.server_handshake_timeout_ms", 10_000),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]
