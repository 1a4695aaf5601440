"""Bench: latency as tfcompare measures an Open Inference Protocol gRPC backend vs a bare grpcio
loop, same ModelInferRequest bytes, same server.

Starts Seldon's MLServer (the ``mlserver`` test environment that ``scripts/setup.sh`` makes)
serving the tests' classifier (``tests/oip_models/``: 32×32×3 float32 in, 1000 probabilities
out), then alternates (to cancel drift) between
- bare: a raw grpcio unary call of ``/inference.GRPCInferenceService/ModelInfer`` with the very
  same serialized ModelInferRequest, parsing the answer into a ModelInferResponse — the least
  any client can do;
- tfcompare: ``client.predict()`` of the same request value (an image tensor made once: the
  client-side preprocessing is recorded apart as ``preprocess_ms`` and is not protocol work),
  timed from outside (request building, the RPC, reading the outputs, the top-5), and the
  ``latency_ms`` it reports.
Prints medians and the overhead ratio. Target: ≤ 1.05×. ``--model classifier-bytes`` sends the
encoded JPEG instead (the server decodes it).

    python bench/bench_oip_client_overhead.py [--requests 300] [--model classifier]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from images import jpeg_bytes, photo  # noqa: E402  (tests' helpers: scikit-image photos)

from tfcompare.imaging.preprocess import Preprocessing  # noqa: E402
from tfcompare.serving import grpc_predict_v2_pb2 as pb  # noqa: E402
from tfcompare.serving import make_client  # noqa: E402
from tfcompare.serving.backend_spec import BackendSpec  # noqa: E402
from tfcompare.serving.grpc_client import CHANNEL_OPTIONS  # noqa: E402
from tfcompare.serving.oip_grpc_client import INFER_METHOD  # noqa: E402


def pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.1f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per method")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--model", choices=("classifier", "classifier-bytes"), default="classifier")
    args = parser.parse_args()
    if not (ROOT / ".venv" / "test-envs" / "mlserver" / "bin" / "python").is_file():
        print("the mlserver test environment is missing: run scripts/setup.sh", file=sys.stderr)
        return 2
    import oip_servers

    with tempfile.TemporaryDirectory(prefix="tfcompare-bench-oip-") as tmp:
        weights = oip_servers.classifier.save_weights(Path(tmp) / "classifier.npz")
        server = oip_servers.start_mlserver(weights, models=(args.model,), log_dir=Path(tmp))
        try:
            image = jpeg_bytes(photo("chelsea"))
            spec = BackendSpec.parse(f"bench=v2://{server.grpc}/{args.model}", timeout_s=30)
            client = make_client(spec)
            sig = client.metadata()
            value = sig.input.make(image, Preprocessing("tf"))  # made once, as the run does
            payload = client.prepare(value, sig).body  # the very same bytes for the bare loop
            channel = grpc.insecure_channel(server.grpc, CHANNEL_OPTIONS)
            bare_call = channel.unary_unary(INFER_METHOD)

            def bare() -> float:
                t0 = time.perf_counter()
                resp = pb.ModelInferResponse.FromString(bare_call(payload, timeout=30))
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
            server.stop()

    b = statistics.median(bare_ms)
    w = statistics.median(wall_ms)
    r = statistics.median(reported_ms)
    print(
        f"backend: MLServer (mlserver test environment), model {args.model} "
        f"({sig.input_text}); request {len(payload)} bytes; {args.requests} requests each, "
        "interleaved"
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
