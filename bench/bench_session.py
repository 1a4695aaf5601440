"""Save and reopen a large session: 50 real ~200 KB JPEGs × 11 variants × 3 backends × 5 repeats
(8,250 measured requests). Target: ≤ 1 s each way. The baseline, measured in the same run on the same
data, is writing/reading the run as JSON (``tfcompare.runner.run_formats``) with the images in base64.

    python bench/bench_session.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from tfcompare.imaging.values import ImageInfo, Variant, variant_key
from tfcompare.results import Aggregate, RequestResult, RunResult
from tfcompare.runner.run_formats import from_json_obj, to_json_obj
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.session import load_session, save_session
from tfcompare.settings import RunSettings

N_IMAGES, BACKENDS, REPEATS = 50, ("gpu", "cpu-1", "cpu-8"), 5
SIZES, FORMATS = (2048, 1024, 512, 256, 128), ("jpeg", "png")


def real_jpeg(rng: np.random.Generator) -> bytes:
    """A photo-like JPEG of roughly 200 KB (smooth gradients plus texture)."""
    h, w = 768, 1024
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], axis=-1)
    noise = rng.normal(0, 18, (h, w, 3))
    img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def build_result() -> RunResult:
    rng = np.random.default_rng(7)
    rnd = random.Random(7)
    keys = [variant_key(None, "jpeg")] + [variant_key(s, f) for s in SIZES for f in FORMATS]
    labels = [f"class {i}" for i in range(1000)]
    specs = tuple(
        BackendSpec(b, f"127.0.0.1:{8500 + i}", model="inception") for i, b in enumerate(BACKENDS)
    )
    images, requests, summary = [], [], []
    for i in range(N_IMAGES):
        data = real_jpeg(rng)
        name = f"photo-{i:03d}.jpg"
        variants = tuple(
            Variant(
                k,
                None if k == "original" else int(k.split("-")[0]),
                "jpeg" if k == "original" else k.split("-")[1],
                90,
                1024,
                768,
                rnd.randint(5_000, 3_000_000),
                rnd.random() * 40,
            )
            for k in keys
        )
        images.append(
            ImageInfo(name, f"/photos/{name}", "jpeg", 1024, 768, len(data), variants, (), data)
        )
        for key in keys:
            for spec in specs:
                for rep in range(REPEATS):
                    top5 = tuple(Prediction(rnd.choice(labels), rnd.random()) for _ in range(5))
                    requests.append(
                        RequestResult(
                            name,
                            key,
                            spec.name,
                            "grpc",
                            "measured",
                            rep,
                            True,
                            rnd.uniform(5, 500),
                            rnd.uniform(0.1, 3),
                            rnd.randint(5_000, 3_000_000),
                            1,
                            None,
                            top5,
                            "probability",
                            f"pod-{spec.name}",
                            time.time(),
                        )
                    )
                summary.append(
                    Aggregate(
                        name,
                        key,
                        spec.name,
                        REPEATS,
                        0,
                        100_000,
                        10.0,
                        12.0,
                        13.0,
                        10.5,
                        1.2,
                        True,
                        labels[i],
                        rnd.random() < 0.9,
                        0.8,
                        rnd.uniform(0.5, 1.2),
                    )
                )
    for spec in specs:
        requests.insert(0, replace(requests[0], backend=spec.name, phase="cold", repeat=0))
    return RunResult(
        RunSettings(repeats=REPEATS), specs, tuple(images), tuple(requests), (), tuple(summary)
    )


def json_save(path: Path, result: RunResult) -> None:
    obj = to_json_obj(result)
    obj["image_bytes"] = [base64.b64encode(i.original).decode("ascii") for i in result.images]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())


def json_load(path: Path) -> RunResult:
    obj = json.loads(path.read_text(encoding="utf-8"))
    result = from_json_obj(obj)
    blobs = [base64.b64decode(b) for b in obj["image_bytes"]]
    return replace(
        result,
        images=tuple(replace(i, original=b) for i, b in zip(result.images, blobs, strict=True)),
    )


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="repetitions per measurement (median)"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    result = build_result()
    n_measured = len(result.measured)
    image_mb = sum(len(i.original) for i in result.images) / 1e6
    print(
        f"built {len(result.images)} images ({image_mb:.1f} MB of JPEG), {n_measured} measured "
        f"requests, {len(result.summary)} aggregates in {time.perf_counter() - t0:.1f} s"
    )
    assert n_measured == 8250

    with tempfile.TemporaryDirectory() as tmp:
        session, as_json = Path(tmp) / "big.tfcs", Path(tmp) / "big.json"
        save_s = timed(
            lambda: save_session(session, result, selection={"image": "photo-000.jpg"}), args.rounds
        )
        load_s = timed(lambda: load_session(session), args.rounds)
        json_save_s = timed(lambda: json_save(as_json, result), args.rounds)
        json_load_s = timed(lambda: json_load(as_json), args.rounds)

        loaded = load_session(session).result
        assert loaded == result and loaded.images[7].original == result.images[7].original
        size_mb, json_mb = session.stat().st_size / 1e6, as_json.stat().st_size / 1e6

    print(
        f"session file {size_mb:.1f} MB; JSON baseline {json_mb:.1f} MB (ratio {size_mb / json_mb:.2f})"
    )
    print(
        f"save   .tfcs {1000 * save_s:7.0f} ms   JSON {1000 * json_save_s:7.0f} ms   "
        f"ratio {save_s / json_save_s:.2f}   target ≤ 1000 ms: {'ok' if save_s <= 1 else 'MISSED'}"
    )
    print(
        f"reopen .tfcs {1000 * load_s:7.0f} ms   JSON {1000 * json_load_s:7.0f} ms   "
        f"ratio {load_s / json_load_s:.2f}   target ≤ 1000 ms: {'ok' if load_s <= 1 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
