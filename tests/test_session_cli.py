"""``tfcompare export`` and ``tfcompare compare`` on real session files, through the command
line's entry point (which must not load the TensorFlow runtime: tests/cli_inprocess.py checks)."""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
from pathlib import Path

import pytest
from cli_inprocess import run_tfcompare
from session_results import make_result

from tfcompare.runner.run_formats import csv_text, to_json_obj
from tfcompare.session import load_session, save_session


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_tfcompare(*args)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, Path]:
    """A (before) and B (after): B is twice as slow, drops backend cpu-1 and adds cpu-8."""
    folder = tmp_path_factory.mktemp("sessions")
    a, b = folder / "before.tfcs", folder / "after.tfcs"
    save_session(a, make_result(3), title="before")
    save_session(b, make_result(3, backends=("gpu", "cpu-8"), scale=2.0), title="after")
    return {"a": a, "b": b, "folder": folder}


def test_export_writes_exactly_what_run_writes(sessions, tmp_path):
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    proc = cli("export", sessions["a"], "--json", out_json, "--csv", out_csv)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out_json}" in proc.stderr
    run_result = make_result(3)  # what `tfcompare run` would have had in memory
    expected = json.loads(json.dumps(to_json_obj(run_result)))
    assert json.loads(out_json.read_text(encoding="utf-8")) == expected
    assert out_csv.read_text(encoding="utf-8") == csv_text(run_result)
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    assert len(rows) == len(run_result.measured) == 3 * 3 * 2 * 3
    assert len(expected["cold"]) == 2 and expected["errors"][0]["image"] == "notes.txt"


def test_export_needs_an_output_and_a_usable_session(sessions, tmp_path):
    proc = cli("export", sessions["a"])
    assert proc.returncode == 2
    assert "give --json, --csv, --capacity-json and/or --capacity-csv OUT" in proc.stderr

    text = tmp_path / "notes.tfcs"
    text.write_text("not a session\n")
    proc = cli("export", text, "--json", tmp_path / "x.json")
    assert proc.returncode == 1
    assert "not a tfcompare session file" in proc.stderr and str(text) in proc.stderr
    assert not (tmp_path / "x.json").exists()

    proc = cli("export", tmp_path / "missing.tfcs", "--csv", tmp_path / "x.csv")
    assert proc.returncode == 1 and "no such file" in proc.stderr

    proc = cli("export", sessions["a"], "--json", tmp_path / "no" / "dir" / "x.json")
    assert proc.returncode == 1 and "cannot write" in proc.stderr


def _median_latency(result, backend: str, variant: str) -> float:
    return statistics.median(
        r.latency_ms
        for r in result.measured
        if r.backend == backend and r.variant == variant and r.ok and r.latency_ms is not None
    )


def test_compare_reports_latency_and_quality_change(sessions):
    proc = cli("compare", sessions["a"], sessions["b"], "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    a = load_session(sessions["a"]).result
    b = load_session(sessions["b"]).result
    rows = {(r["backend"], r["variant"]): r for r in data["rows"]}
    assert set(rows) == {("gpu", v) for v in ("original", "512-jpeg", "128-png")}
    for (backend, variant), row in rows.items():
        p50_a = _median_latency(a, backend, variant)
        p50_b = _median_latency(b, backend, variant)
        assert row["a"]["p50_ms"] == pytest.approx(p50_a)
        assert row["b"]["p50_ms"] == pytest.approx(p50_b)
        assert row["delta_ms"] == pytest.approx(p50_b - p50_a)
        assert row["delta_pct"] == pytest.approx(100.0)  # B is twice as slow
        agree = [x.top1_agree for x in a.summary if (x.backend, x.variant) == (backend, variant)]
        agree = [x for x in agree if x is not None]
        assert row["a"]["top1_agreement"] == pytest.approx(sum(agree) / len(agree))
    assert rows[("gpu", "128-png")]["a"]["top1_agreement"] == 0.0
    assert rows[("gpu", "512-jpeg")]["b"]["score_ratio"] == pytest.approx(1.01)
    assert data["backends_only_a"] == ["cpu-1"] and data["backends_only_b"] == ["cpu-8"]
    assert data["images_common"] == 3

    text = cli("compare", sessions["a"], sessions["b"])
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "“before”" in out and "“after”" in out
    assert "backends only in A: cpu-1" in out and "backends only in B: cpu-8" in out
    gpu_original = next(
        line for line in out.splitlines() if line.startswith("gpu") and "original" in line
    )
    p50 = _median_latency(a, "gpu", "original")
    assert f"{p50:.2f}" in gpu_original and f"{2 * p50:.2f}" in gpu_original
    assert "+100.0 %" in gpu_original and "100% → 100%" in gpu_original


def test_compare_lists_variants_and_changed_targets(tmp_path):
    from dataclasses import replace

    a = make_result(2)
    b = make_result(2)
    b = replace(
        b,
        backends=tuple(
            replace(s, target="10.0.0.5:8500") if s.name == "gpu" else s for s in b.backends
        ),
        requests=tuple(r for r in b.requests if r.variant != "128-png"),
        summary=tuple(x for x in b.summary if x.variant != "128-png"),
    )
    save_session(tmp_path / "a.tfcs", a)
    save_session(tmp_path / "b.tfcs", b)
    proc = cli("compare", tmp_path / "a.tfcs", tmp_path / "b.tfcs")
    assert proc.returncode == 0, proc.stderr
    assert "variants only in A: 128-png" in proc.stdout
    assert "backend gpu: target changed from 127.0.0.1:8500 to 10.0.0.5:8500" in proc.stdout
    assert "+0.0 %" in proc.stdout  # same latencies


def test_compare_refuses_unusable_files(sessions, tmp_path):
    newer = tmp_path / "newer.tfcs"
    data = bytearray(sessions["a"].read_bytes())
    data[60:64] = (99).to_bytes(4, "big")  # schema number from the future
    newer.write_bytes(bytes(data))
    proc = cli("compare", sessions["a"], newer)
    assert proc.returncode == 2  # 1 is kept for "a --fail-on rule failed"
    assert "newer tfcompare" in proc.stderr and str(newer) in proc.stderr
    assert proc.stdout == ""
