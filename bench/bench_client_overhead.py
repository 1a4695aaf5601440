"""Bench (b): latency as tfcompare measures it vs a bare grpcio loop, same request, same backend.

Starts a local ``tfcompare serve tiny`` backend, then alternates (to cancel drift) between
- bare: a raw grpcio unary call with the very same serialized PredictRequest bytes, parsing the
  answer into a PredictResponse — the least any client can do;
- tfcompare: ``client.predict()`` of the image's request value, timed from outside (request building, the RPC, top-5 parsing),
  and the ``latency_ms`` it reports.
Prints medians and the overhead in percent. Target: ≤ 5 %.

    python bench/bench_client_overhead.py [--requests 300] [--size 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

import grpc
import numpy as np
from PIL import Image

from tfcompare.serving import make_client
from tfcompare.serving._protos import predict_pb2
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.grpc_client import CHANNEL_OPTIONS, PREDICT_METHOD


def start_backend(home: str, threads: int) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, TFCOMPARE_HOME=home, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "tfcompare",
        "serve",
        "tiny",
        "--port",
        "0",
        "--model-name",
        "tiny",
        "--threads",
        str(threads),
        "--exit-with-parent",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return proc, fields["grpc"]
    proc.wait()
    raise SystemExit(f"backend failed to start (exit {proc.returncode})")


def test_image(size: int) -> bytes:
    rng = np.random.default_rng(0)
    small = (rng.random((size // 8, size // 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).save(
        buf, "JPEG", quality=90
    )
    return buf.getvalue()


def pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.1f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per method")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--size", type=int, default=512, help="JPEG side in pixels")
    parser.add_argument("--threads", type=int, default=2, help="backend TensorFlow threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tfcompare-bench-") as home:
        proc, address = start_backend(home, args.threads)
        try:
            image = test_image(args.size)
            client = make_client(BackendSpec("bench", address, model="tiny"))
            sig = client.metadata()
            value = sig.input.make(image)  # the typed request value, made once as the runner does
            payload = client.prepare(
                sig.input.make(image), sig
            ).body  # the very same bytes for the bare loop
            channel = grpc.insecure_channel(address, CHANNEL_OPTIONS)
            bare_call = channel.unary_unary(PREDICT_METHOD)

            def bare() -> float:
                t0 = time.perf_counter()
                resp = predict_pb2.PredictResponse.FromString(bare_call(payload, timeout=30))
                elapsed = time.perf_counter() - t0
                assert resp.outputs
                return elapsed * 1000

            def ours() -> tuple[float, float, float]:
                t0 = time.perf_counter()
                out = client.predict(value, sig, timeout_s=30)
                return (time.perf_counter() - t0) * 1000, out.latency_ms, out.client_ms

            for _ in range(args.warmup):
                bare()
                ours()
            bare_ms: list[float] = []
            wall_ms: list[float] = []
            reported_ms: list[float] = []
            client_ms: list[float] = []
            for i in range(args.requests):
                first_bare = i % 2 == 0
                if first_bare:
                    bare_ms.append(bare())
                w, r, c = ours()
                wall_ms.append(w)
                reported_ms.append(r)
                client_ms.append(c)
                if not first_bare:
                    bare_ms.append(bare())
            client.close()
            channel.close()
        finally:
            proc.terminate()
            proc.wait(20)

    b = statistics.median(bare_ms)
    w = statistics.median(wall_ms)
    r = statistics.median(reported_ms)
    print(
        f"backend: tfcompare serve tiny --threads {args.threads}; image {args.size}x{args.size} "
        f"JPEG {len(image)} bytes; {args.requests} requests each, interleaved"
    )
    print(f"bare grpcio (same serialized request):   median {b:8.3f} ms")
    print(f"tfcompare latency_ms (reported):          median {r:8.3f} ms   {pct(r, b)} vs bare")
    print(f"tfcompare predict() wall, all included:   median {w:8.3f} ms   {pct(w, b)} vs bare")
    print(
        f"tfcompare client_ms (build + parse):      median {statistics.median(client_ms):8.3f} ms "
        "(recorded separately, never hidden)"
    )
    print(f"overhead ratio (predict wall / bare):     {w / b:.3f}x  (target <= 1.05x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
