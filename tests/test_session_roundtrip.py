"""Round trip with real measurements: Runner against real local backends (gRPC and REST) → save →
reopen → export gives the same requests and aggregates as the run itself; compare two real runs."""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfcompare.runner import Runner, aggregate
from tfcompare.runner.run_formats import csv_text, to_json_obj
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.session import load_session, save_session
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow


def _photo(seed: int, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, np.full((h, w), 40 * seed % 255)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def two_runs(backend_pair):
    """Two real runs over the same images against backend "one" (gRPC) and "two" (REST)."""
    backends = [
        BackendSpec(
            "one",
            backend_pair.one.grpc,
            model="tiny",
            headers=(("authorization", "Bearer do-not-store"),),
        ),
        BackendSpec("two", backend_pair.two.rest, protocol="rest", model="tiny"),
    ]
    settings = RunSettings(sizes=(128, 64), formats=("jpeg", "png"), warmup=1, repeats=3)
    sources = [("cat.jpg", _photo(1, (320, 240))), ("dog.jpg", _photo(2, (200, 300)))]
    first = Runner(backends, settings).run(sources)
    second = Runner(backends, settings).run(sources)
    return first, second


def _cli(*args) -> subprocess.CompletedProcess[str]:
    code = "import sys; from tfcompare.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_run_save_reopen_export_is_identical(two_runs, tmp_path):
    result = two_runs[0]
    # the run really measured something: both protocols answered with top-5 predictions
    assert len(result.measured) == 2 * 5 * 2 * 3 and all(r.ok for r in result.requests), [
        r.error for r in result.requests if not r.ok
    ]
    assert {r.protocol for r in result.measured} == {"grpc", "rest"}
    assert all(len(r.top5) == 5 and r.latency_ms > 0 for r in result.measured)
    assert len(result.cold) == 2 and len(result.summary) == 2 * 5 * 2

    path = tmp_path / "run.tfcs"
    save_session(path, result, selection={"image": "dog.jpg"}, title="real run")
    assert b"do-not-store" not in path.read_bytes()
    saved = load_session(path)
    assert saved.result == result  # every request (cold and measured), aggregate, image, setting
    assert [i.original for i in saved.result.images] == [i.original for i in result.images]
    assert [i.name for i in saved.result.images] == ["cat.jpg", "dog.jpg"]
    assert (
        aggregate(saved.result.measured, saved.result.server_times) == result.summary
    )  # statistics recomputed from disk agree

    out_json, out_csv = tmp_path / "run.json", tmp_path / "run.csv"
    proc = _cli("export", path, "--json", out_json, "--csv", out_csv)
    assert proc.returncode == 0, proc.stderr
    exported = json.loads(out_json.read_text(encoding="utf-8"))
    assert exported == json.loads(json.dumps(to_json_obj(result)))
    assert exported["requests"] == [
        {k: v for k, v in r.to_dict().items() if k != "phase"} for r in result.measured
    ]
    assert exported["summary"] == [a.to_dict() for a in result.summary]
    assert out_csv.read_text(encoding="utf-8") == csv_text(result)


def test_compare_two_real_sessions(two_runs, tmp_path):
    first, second = two_runs
    save_session(tmp_path / "a.tfcs", first)
    save_session(tmp_path / "b.tfcs", second)
    proc = _cli("compare", tmp_path / "a.tfcs", tmp_path / "b.tfcs", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (
        len(data["rows"]) == 2 * 5 and not data["backends_only_a"] and not data["variants_only_b"]
    )
    for row in data["rows"]:
        key = (row["backend"], row["variant"])
        lat = [
            [r.latency_ms for r in run.measured if (r.backend, r.variant) == key]
            for run in (first, second)
        ]
        p50_a, p50_b = statistics.median(lat[0]), statistics.median(lat[1])
        assert row["a"]["p50_ms"] == pytest.approx(p50_a)
        assert row["b"]["p50_ms"] == pytest.approx(p50_b)
        assert row["delta_pct"] == pytest.approx(100 * (p50_b - p50_a) / p50_a)
        if row["variant"] == "original":  # the same backend agrees with itself on the original
            assert row["a"]["top1_agreement"] == 1.0 and row["b"]["top1_agreement"] == 1.0
