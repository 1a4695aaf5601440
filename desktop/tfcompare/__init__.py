"""tfcompare: compare TensorFlow Serving backends on your own images."""

import os

__version__ = "0.1.0"

# gRPC's EventEngine (on by default since grpcio 1.6x) reads each socket on a pool thread and then
# wakes the thread waiting for the answer; gRPC's classic poller reads in the waiting thread
# itself. On the local backend that halves the context switches per call and takes 0.1–0.2 ms off
# every request on a 2-CPU machine (bench/bench_localserve.py) — time that would otherwise be
# reported as backend latency. gRPC reads the setting once, when it is imported, so it is set
# here, before any tfcompare module imports grpc; servers started by tfcompare inherit it. A
# GRPC_EXPERIMENTS the user set is left as it is.
GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener"
os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
