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
