"""The findings report and the regression gate on a large session: 50 images × 11 variants ×
3 backends × REPEATS measured requests (default 20: 33,000 requests). Target: the report ≤ 2 s and
the gate (four latency rules + agreement + errors) ≤ 1 s. The baseline, measured in the same run on
the same data, is the summary table ``tfcompare run`` prints (``runner.report.summary_table``),
which walks the same pooled statistics.

    python bench/bench_report.py [--repeats 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from bench_session import timed  # the same median-of-rounds timer

from tfcompare.imaging.values import ImageInfo, Variant, variant_key
from tfcompare.report import build_report
from tfcompare.report.gate import parse_rule, run_gate
from tfcompare.results import RequestResult, RunResult
from tfcompare.runner import aggregate
from tfcompare.runner.run_formats import summary_table
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

N_IMAGES, BACKENDS = 50, ("gpu", "cpu-1", "cpu-8")
SIZES, FORMATS = (2048, 1024, 512, 256, 128), ("jpeg", "png")
RULES = ["p50:+10%", "p90:+10%", "p99:+10%", "mean:+10%", "agreement:-2pp", "errors:>0"]


def make_run(repeats: int, slow: float, seed: int) -> RunResult:
    rng = np.random.default_rng(seed)
    images, requests = [], []
    labels = [f"class {i}" for i in range(20)]
    for i in range(N_IMAGES):
        w, h = 3000, 2000
        variants = [Variant("original", None, "jpeg", None, w, h, 2_000_000, 0.0)]
        for box in SIZES:
            for fmt in FORMATS:
                s = box / max(w, h)
                nbytes = int(w * h * s * s * (0.3 if fmt == "jpeg" else 1.5))
                variants.append(
                    Variant(
                        variant_key(box, fmt),
                        box,
                        fmt,
                        90 if fmt == "jpeg" else None,
                        int(w * s),
                        int(h * s),
                        nbytes,
                        1.0,
                    )
                )
        name = f"img-{i:02d}.jpg"
        images.append(ImageInfo(name, None, "jpeg", w, h, 2_000_000, tuple(variants)))
        truth = labels[i % len(labels)]
        for b, backend in enumerate(BACKENDS):
            for v in variants:
                base = (5 + 10 * b) * (1 + v.nbytes / 4e6) * slow
                flip = v.box is not None and v.box <= 128 and i % 3 == 0  # same in both runs
                top = labels[(i + 1) % len(labels)] if flip else truth
                top5 = tuple(
                    Prediction(lbl, 0.9 - 0.1 * k)
                    for k, lbl in enumerate([top] + [x for x in labels if x != top][:4])
                )
                for r in range(repeats):
                    requests.append(
                        RequestResult(
                            name,
                            v.key,
                            backend,
                            "grpc",
                            "measured",
                            r,
                            True,
                            float(base * rng.lognormal(0, 0.2)),
                            0.1,
                            v.nbytes + 60,
                            1,
                            None,
                            top5,
                        )
                    )
    return RunResult(
        RunSettings(sizes=SIZES, formats=FORMATS, repeats=repeats),
        tuple(BackendSpec(b, f"10.0.0.{k}:8500") for k, b in enumerate(BACKENDS)),
        tuple(images),
        tuple(requests),
        (),
        aggregate(requests),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = make_run(args.repeats, 1.0, 1)
    new = make_run(args.repeats, 1.05, 2)
    new = replace(new, summary=aggregate(new.requests))
    rules = [parse_rule(r) for r in RULES]
    n = len(base.measured)
    table = timed(lambda: summary_table(base), args.rounds)
    report = timed(lambda: build_report(base).html(), args.rounds)
    gate = timed(lambda: run_gate(base, new, rules), args.rounds)
    size = len(build_report(base).html().encode())
    print(
        f"session: {n:,} measured requests ({N_IMAGES} images × 11 variants × {len(BACKENDS)} "
        f"backends × {args.repeats})"
    )
    print(f"summary table (baseline): {1000 * table:.0f} ms")
    print(
        f"report (4 findings + HTML): {1000 * report:.0f} ms = {report / table:.2f}× the table; "
        f"page {size / 1024:.0f} KB"
    )
    result = run_gate(base, new, rules)
    print(
        f"gate ({len(rules)} rules, BASE vs NEW 5 % slower): {1000 * gate:.0f} ms = "
        f"{gate / table:.2f}× the table; exit {result.exit_code} (a 5 % change is under the "
        "10 % limits)"
    )


if __name__ == "__main__":
    main()
