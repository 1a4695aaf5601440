"""Bench: the local server's REST parsing of a tensor request vs the plain way, in one run.

A 224 × 224 × 3 float image (150,528 JSON numbers, written as a client's ``json.dumps`` of a
float32 array writes them) is parsed into the float32 array fed to the model:

- baseline: ``json.loads`` + ``np.asarray(…, dtype=np.float32)`` (no checks of TF Serving's rules);
- server: ``tfcompare.localserve.json_tensors`` as ``tfcompare serve`` runs it (orjson, NumPy in
  one call, TF Serving's checks);
- the same with the standard library's JSON reader instead of orjson (what orjson saves);
- the exact element-by-element walk (what a body with ``true``/``false`` in it, or a refused one,
  goes through).

Also the answer side: a [1, 1000] float32 output written as TF Serving writes it vs ``json.dumps``
of ``tolist()``. Reported: median milliseconds over runs that take turns call by call and the ratios to the
baseline. No TensorFlow is imported.

    python bench/bench_rest_tensor_parse.py [--runs 15] [--size 224] [--batch 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from tfcompare.localserve import json_tensors
from tfcompare.serving._protos import types_pb2


def _time(call, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype(np.float32)
    body = json.dumps({"instances": image.tolist()}).encode()
    inputs = {"images": types_pb2.DT_FLOAT}

    def baseline() -> np.ndarray:
        return np.asarray(json.loads(body)["instances"], dtype=np.float32)

    def server() -> np.ndarray:
        doc = json_tensors.loads(body)
        return json_tensors.parse_predict(doc, inputs, fast=json_tensors.fast_ok(body))[1]["images"]

    def server_stdlib() -> np.ndarray:
        doc = json.loads(body)
        return json_tensors.parse_predict(doc, inputs, fast=json_tensors.fast_ok(body))[1]["images"]

    def exact() -> np.ndarray:
        return json_tensors.parse_predict(json.loads(body), inputs, fast=False)[1]["images"]

    for way in (server, server_stdlib, exact):  # all give the baseline's array
        assert np.array_equal(way(), baseline()), way.__name__

    cases = {"baseline": baseline, "server": server, "server-stdlib": server_stdlib}
    cases["exact walk"] = exact
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):  # one call of each in turn: machine load hits every case alike
        for name, call in cases.items():
            times[name].append(_time(call, 1))

    probs = rng.random((1, 1000)).astype(np.float32)
    probs /= probs.sum()
    answer = {
        "json.dumps(tolist())": lambda: json.dumps({"predictions": probs.tolist()}).encode(),
        "server answer": lambda: json_tensors.dumps_predict({"probabilities": probs}, "row"),
    }
    answer_times = {name: _time(call, args.runs * 10) for name, call in answer.items()}

    print(
        f"REST request: {args.batch} × {args.size} × {args.size} × 3 float32 "
        f"({image.size:,} numbers, {len(body) / 2**20:.1f} MiB JSON)"
    )
    base = statistics.median(times["baseline"])
    for name, samples in times.items():
        ms = statistics.median(samples)
        print(f"  {name:<14} {ms:8.1f} ms   ratio to baseline {ms / base:5.2f}")
    print("REST answer: [1, 1000] float32")
    base = answer_times["json.dumps(tolist())"]
    for name, ms in answer_times.items():
        size = len(answer[name]())
        print(f"  {name:<22} {ms:7.3f} ms   {size:6d} bytes   ratio to json.dumps {ms / base:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
