"""Bench: making a tensor model's request (decode + resize + scale + serialise) vs the fastest
pipeline written by hand for the same bytes, and the REST JSON body vs the fastest JSON writer.

For a 224×224×3 float32 input (the "tf" preset, −1…1) and two source images (a 640 px sample
photo and a 2048 px JPEG made from it), each round times, alternating to cancel drift:

- gRPC, tfcompare: ``ImageTensorInput.make`` + ``GrpcClient.prepare`` (the PredictRequest bytes);
- gRPC, by hand: Pillow decode with the same DCT draft, one bicubic resize, ``np.asarray`` →
  one in-place multiply-add → ``tobytes`` into a hand-filled PredictRequest — the least work
  that gives the same bytes (checked: the two requests are identical);
- REST, tfcompare: ``predict_body`` of the same value (TF Serving's row format);
- REST, fastest writer: ``orjson.dumps`` of the same array alone (the fastest JSON writer on
  PyPI for NumPy arrays; ``json.dumps(arr.tolist())`` is timed too, for scale).

Prints medians and the ratios. Targets: request ≤ 1.5× the hand pipeline; JSON ≤ 1.5× orjson.

    python bench/bench_tensor_request.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from importlib import resources

import numpy as np
import orjson
from PIL import Image

from tfcompare.imaging.preprocess import DRAFT_GAP, Preprocessing, TensorLayout
from tfcompare.serving._protos import predict_pb2, types_pb2
from tfcompare.serving.answers import SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.grpc_client import GrpcClient
from tfcompare.serving.inputs import ImageTensorInput
from tfcompare.serving.rest_client import predict_body

SIZE = 224
LAYOUT = TensorLayout("float32", "NHWC", 3, SIZE, SIZE)


def sources() -> dict[str, bytes]:
    photo = (resources.files("tfcompare.resources.samples") / "chelsea.jpg").read_bytes()
    big = Image.open(io.BytesIO(photo)).convert("RGB").resize((2048, 1365), Image.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    return {"640 px JPEG": photo, "2048 px JPEG": buf.getvalue()}


def by_hand(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (int(SIZE * DRAFT_GAP), int(SIZE * DRAFT_GAP)))
    im = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    x = np.asarray(im, dtype=np.float32)
    x *= np.float32(1 / 127.5)
    x -= np.float32(1)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "m"
    req.model_spec.signature_name = "serving_default"
    t = req.inputs["input_image"]
    t.dtype = types_pb2.DT_FLOAT
    for d in (1, SIZE, SIZE, 3):
        t.tensor_shape.dim.add().size = d
    t.tensor_content = x.tobytes()
    return req.SerializeToString()


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    kind = ImageTensorInput("input_image", LAYOUT)
    tf = Preprocessing("tf")
    sig = SignatureInfo("serving_default", "input_image", "DT_FLOAT", ("probs",), None, kind)
    client = GrpcClient(BackendSpec("bench", "127.0.0.1:1", model="m"))
    ok = True
    try:
        for name, data in sources().items():

            def ours(d=data) -> bytes:
                return client.prepare(kind.make(d, tf), sig).body

            assert ours() == by_hand(data), "the two pipelines must make the same request"
            value = kind.make(data, tf)
            times: dict[str, list[float]] = {k: [] for k in ("ours", "hand", "rest", "orjson")}
            json_ms = []
            for _ in range(args.rounds):
                times["ours"].append(timed(ours))
                times["hand"].append(timed(by_hand, data))
                times["rest"].append(timed(predict_body, value, "serving_default"))
                times["orjson"].append(
                    timed(orjson.dumps, value.array, None, orjson.OPT_SERIALIZE_NUMPY)
                )
            for _ in range(max(3, args.rounds // 10)):
                json_ms.append(timed(lambda a=value.array: json.dumps(a.tolist())))
            med = {k: statistics.median(v) for k, v in times.items()}
            grpc_bytes = len(ours())
            rest_bytes = len(predict_body(value, "serving_default"))
            request_ratio = med["ours"] / med["hand"]
            json_ratio = med["rest"] / med["orjson"]
            print(f"{name} → float32 224×224×3 ('tf' preset), {args.rounds} rounds (medians)")
            print(
                f"  gRPC request: tfcompare {med['ours']:.2f} ms, by hand {med['hand']:.2f} ms "
                f"→ {request_ratio:.2f}× (target ≤ 1.5×) {'ok' if request_ratio <= 1.5 else 'MISSED'}"
            )
            print(
                f"  REST body:    tfcompare {med['rest']:.2f} ms, orjson alone "
                f"{med['orjson']:.2f} ms → {json_ratio:.2f}× (target ≤ 1.5×) "
                f"{'ok' if json_ratio <= 1.5 else 'MISSED'}; json.dumps(tolist()) "
                f"{statistics.median(json_ms):.1f} ms"
            )
            print(
                f"  size: gRPC {grpc_bytes:,} bytes, REST JSON {rest_bytes:,} bytes "
                f"({rest_bytes / grpc_bytes:.2f}× the gRPC request)"
            )
            ok = ok and request_ratio <= 1.5 and json_ratio <= 1.5
    finally:
        client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
