"""Capacity results without backends: histograms merge exactly, stability, knees, agents' windows."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest
from cli_inprocess import run_tfcompare
from crafted_sweeps import (
    bomb_in_a_window,
    damaged_sweep_session,
    hdr_header,
    hist_of,
    inflating,
    level_window,
    stable_levels,
    sweep_result,
)

from tfcompare.load.agent import merge_window_lines, read_plan_dir, write_plan_dir
from tfcompare.load.capacity_formats import capacity_csv
from tfcompare.load.capacity_model import CapacityModel
from tfcompare.load.capacity_results import (
    CapacityResult,
    LevelResult,
    knee,
    stable,
    sustained_level,
)
from tfcompare.load.capacity_text import capacity_table
from tfcompare.load.histogram import LatencyHistogram
from tfcompare.load.load_plan import LoadPlan, LoadTarget
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest


def test_merged_histograms_equal_one_histogram_of_all_samples():
    rng = random.Random(1)
    parts = [[rng.lognormvariate(1.5, 0.8) for _ in range(2000)] for _ in range(3)]
    merged = LatencyHistogram.merged(hist_of(p) for p in parts)
    whole = hist_of([x for p in parts for x in p])
    assert merged.count == whole.count == 6000
    for pct in (50, 90, 99, 99.9, 100):
        assert merged.percentile_ms(pct) == whole.percentile_ms(pct)
    exact = sorted(x for p in parts for x in p)[int(0.99 * 6000) - 1]
    assert merged.percentile_ms(99) == pytest.approx(exact, rel=2e-3)
    # the text form round-trips and still merges exactly
    again = LatencyHistogram.decode(merged.encode()).merge(LatencyHistogram.decode(""))
    assert again.percentile_ms(99) == whole.percentile_ms(99) and again.count == 6000
    with pytest.raises(ValueError):
        LatencyHistogram.decode("not a histogram")


def test_stability_rule_is_perf_analyzers():
    steady = [level_window(i, 100, 10.0) for i in range(3)]
    assert stable(steady, 3, 0.10)
    assert not stable(steady[:2], 3, 0.10)  # too few windows
    drifting = [level_window(0, 100, 10.0), level_window(1, 100, 10.0), level_window(2, 130, 10.0)]
    assert not stable(drifting, 3, 0.10)  # throughput off by more than 10 %
    slower = [level_window(0, 100, 10.0), level_window(1, 100, 10.0), level_window(2, 100, 14.0)]
    assert not stable(slower, 3, 0.10)  # p99 off
    assert stable([level_window(0, 50, 99.0), *steady], 3, 0.10)  # only the last three count


def test_level_figures_knee_and_client_bound():
    levels = [
        LevelResult(
            "a",
            "original",
            "concurrency",
            c,
            [level_window(i, r, p, level=c) for i in range(3)],
            stable=True,
            counted=3,
        )
        for c, r, p in ((1, 100, 10.0), (2, 180, 12.0), (4, 220, 40.0), (8, 230, 120.0))
    ]
    assert levels[1].throughput == pytest.approx(180)
    assert levels[1].percentile_ms(99) == pytest.approx(12.0, rel=1e-3)
    assert sustained_level(levels, 50.0) is levels[2]  # highest throughput with p99 ≤ 50 ms
    assert knee(levels, 50.0) is levels[2]  # +22 % over c=2: more load still bought throughput
    assert knee(levels, 11.0) is sustained_level(levels, 11.0) is levels[0]
    assert knee(levels, 5.0) is None and sustained_level(levels, 5.0) is None
    assert sustained_level(levels, None) is levels[3]
    assert knee(levels, None) is levels[2]  # c=8 gains 4.5 %, within a stable level's ±10 %
    levels[2].stable = False  # unstable levels never count as capacity
    assert knee(levels, 50.0) is levels[1] and sustained_level(levels, 50.0) is levels[1]
    short = LevelResult(
        "a",
        "original",
        "concurrency",
        16,
        [level_window(i, 240, 10.0, level=16, in_flight=9.0) for i in range(3)],
        stable=True,
        counted=3,
    )
    assert short.client_bound and "9.0 of 16" in short.client_bound_reason
    busy = LevelResult(
        "a",
        "original",
        "concurrency",
        1,
        [level_window(i, 240, 10.0, level=1, busy=0.97) for i in range(3)],
        stable=True,
        counted=3,
    )
    assert busy.client_bound and "event loop" in busy.client_bound_reason
    cores = [level_window(i, 240, 10.0, level=1) for i in range(3)]
    for w in cores:
        w.cpu, w.cores = 1.9, 2
    saturated = LevelResult("a", "original", "concurrency", 1, cores, stable=True, counted=3)
    assert saturated.client_bound and "1.9 of its 2 CPU cores" in saturated.client_bound_reason
    assert knee([short, busy, saturated], None) is None


def _curve(backend, points, *, variant="original", stable_at=None):
    """Levels (c, req/s, p99 ms); ``stable_at``: the levels that became stable (all if None)."""
    return [
        LevelResult(
            backend,
            variant,
            "concurrency",
            c,
            [level_window(i, r, p, level=c, backend=backend, variant=variant) for i in range(3)],
            stable=stable_at is None or c in stable_at,
            counted=3,
        )
        for c, r, p in points
    ]


def test_knee_is_where_more_load_stops_buying_throughput():
    """The walkthrough's sweep: c=8 gave 2 % more throughput than c=4 for 68 % more p99. The knee
    is c=4; the sustained figure (the highest stable level within the limit) stays c=8; the CLI
    says both, and which one equivalents and the gate use."""
    levels = _curve("cpu", ((1, 40, 30.0), (2, 60, 45.0), (4, 69, 71.0), (8, 70, 119.0)))
    result = CapacityResult(
        plan=LoadPlan(latency_limit_ms=500).to_dict(),
        backends=[{"name": "cpu"}],
        variants={"original": {"label": "original", "bytes": 1000}},
        levels=levels,
    )
    assert result.knee("cpu", "original") is levels[2]
    assert result.sustained_level("cpu", "original") is levels[3]
    assert result.sustained() == {("cpu", "original"): pytest.approx(70, abs=1)}
    text = capacity_table(result)
    rows = {line.split()[2]: line for line in text.splitlines() if line.startswith("cpu ")}
    assert rows["4"].endswith("← knee") and rows["8"].endswith("← sustained")
    assert "70.0 req/s at c=8, p99 " in text and "knee c=4: 69.0 req/s" in text
    assert "what equivalents, compare and the gate's knee: rule use" in text
    doc = result.to_dict()["knees"][0]
    assert (doc["level"], doc["sustained_level"]) == (4, 8) and doc["lower_bound"] is None
    rows = list(csv.DictReader(io.StringIO(capacity_csv(result))))
    assert [(r["level"], r["knee"], r["sustained"]) for r in rows] == [
        ("1", "false", "false"),
        ("2", "false", "false"),
        ("4", "true", "false"),
        ("8", "false", "true"),
    ]
    assert {r["stable"] for r in rows} == {"true"} and {r["client_bound"] for r in rows} == {
        "false"
    }
    # a dip at c=8 does not make c=16 a knee for merely climbing back
    dip = _curve("cpu", ((1, 50, 10.0), (4, 100, 20.0), (8, 80, 30.0), (16, 104, 40.0)))
    assert knee(dip, None) is dip[1]


def test_a_figure_resting_on_unstable_higher_levels_states_no_ratio():
    """cpu-2-batching's only stable level was c=1 (43.6 req/s) while it reached 85 req/s at c=8:
    its sustained figure is a lower bound, and no equivalence is stated from it — in the CLI
    table, the Capacity tab's rows (the model), the JSON, the report and the gate."""
    from tfcompare.load.capacity_text import compare_capacity, format_capacity_comparison
    from tfcompare.report.capacity import capacity_caveats, capacity_verdict, knee_table
    from tfcompare.report.gate import parse_rule, run_gate
    from tfcompare.results import RunResult
    from tfcompare.settings import RunSettings

    firm = _curve("cpu-1", ((1, 40, 30.0), (2, 44, 60.0), (4, 45, 110.0), (8, 45, 220.0)))
    loose = _curve(
        "cpu-2-batching",
        ((1, 44, 25.0), (2, 60, 40.0), (4, 75, 60.0), (8, 85, 100.0)),
        stable_at={1},
    )

    def sweep(levels):
        return CapacityResult(
            plan=LoadPlan(latency_limit_ms=500).to_dict(),
            backends=[{"name": "cpu-1"}, {"name": "cpu-2-batching"}],
            variants={"original": {"label": "original", "bytes": 1000}},
            levels=levels,
        )

    result = sweep(firm + loose)
    assert result.equivalents() == []
    [line] = result.equivalent_lines()
    assert line.startswith("original: cpu-1 vs cpu-2-batching: no ratio — cpu-2-batching's")
    assert "c=2, c=4, c=8 never became stable (up to 85.0 req/s at c=8)" in line
    assert "≈" not in capacity_table(result)
    assert "at least 44.0 req/s at c=1" in capacity_table(result)
    model = CapacityModel()
    model.result = result
    rows = {r[0]: r for r in model.sustained_rows()}
    assert rows["cpu-2-batching"][2] == "≥ 44.0" and "lower bound" in rows["cpu-2-batching"][3]
    assert rows["cpu-1"][2] == "45.0"
    assert model.equivalent_rows() == [line]
    doc = result.to_dict()
    assert (
        doc["equivalents"][0]["count"] is None
        and "lower bound" in doc["equivalents"][0]["no_ratio"]
    )
    assert "cannot be ranked" in capacity_verdict(result)
    assert any("only a lower bound" in c for c in capacity_caveats(result))
    assert "≥ 44.0 req/s" in str(knee_table(result).rows)
    # compare and the gate: NEW's figure is a lower bound, so a "fall" is not established
    better = sweep(firm + _curve("cpu-2-batching", ((1, 80, 20.0), (2, 84, 30.0))))
    rows = compare_capacity(better, result)
    text = format_capacity_comparison(rows, 500, 500)
    assert "≥44.0" in text and "note: B cpu-2-batching original: ≥ a lower bound" in text
    empty = RunResult(
        settings=RunSettings(), backends=(), images=(), requests=(), problems=(), summary=()
    )
    gate = run_gate(empty, empty, [parse_rule("knee:-10%")], capacity=(better, result))
    checks = {c.backend: c for c in gate.rules[0].checks}
    assert checks["cpu-2-batching"].status == "not significant"
    assert "only a lower bound" in checks["cpu-2-batching"].note
    assert gate.exit_code == 0
    assert parse_rule("sustained:-10%").metric == "knee"


def test_lower_bound_figures_through_the_cli(tmp_path, capsys):
    """The same sweep saved as sessions, as a user meets it: ``tfcompare report`` ranks nothing
    on a lower bound, ``tfcompare compare --fail-on knee:-10%`` does not fail on one, and
    ``export --capacity-csv`` marks the sustained level."""
    from tfcompare.cli import main
    from tfcompare.load.capacity_formats import save_capacity

    firm = _curve("cpu-1", ((1, 40, 30.0), (2, 44, 60.0), (4, 45, 110.0)))
    loose = _curve(
        "cpu-2-batching",
        ((1, 44, 25.0), (2, 60, 40.0), (4, 75, 60.0), (8, 85, 100.0)),
        stable_at={1},
    )
    better = _curve("cpu-2-batching", ((1, 80, 20.0), (2, 84, 30.0)))

    def saved(name, levels):
        result = CapacityResult(
            plan=LoadPlan(latency_limit_ms=500).to_dict(),
            backends=[
                BackendSpec(n, f"127.0.0.1:{8500 + i}", model="m").to_dict()
                for i, n in enumerate(("cpu-1", "cpu-2-batching"))
            ],
            variants={"original": {"label": "original", "bytes": 1000}},
            levels=levels,
        )
        save_capacity(tmp_path / name, result)
        return str(tmp_path / name)

    new, base = saved("new.tfcs", firm + loose), saved("base.tfcs", firm + better)
    assert main(["report", new, "--out", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    backends = next(line for line in out.splitlines() if line.startswith("Backends"))
    assert "cannot be ranked" in backends and "sustains the most" not in backends
    html = (tmp_path / "r.html").read_text()
    assert "1 × cpu-1 ≈" not in html and "cpu-1 vs cpu-2-batching: no ratio" in html
    assert main(["compare", base, new, "--fail-on", "knee:-10%"]) == 0
    out = capsys.readouterr().out
    assert "≥44.0" in out and "not significant" in out
    assert main(["export", new, "--capacity-csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    marked = {(r["backend"], r["level"]) for r in rows if r["sustained"] == "true"}
    assert marked == {("cpu-1", "4"), ("cpu-2-batching", "1")}


def test_capacity_result_equivalents_and_round_trip():
    result = CapacityResult(
        plan=LoadPlan(latency_limit_ms=100).to_dict(),
        backends=[{"name": "gpu"}, {"name": "cpu1"}],
        variants={"original": {"label": "original", "bytes": 1000}},
        levels=stable_levels("gpu", (100, 400, 800)) + stable_levels("cpu1", (100, 100, 100)),
    )
    assert result.sustained() == {
        ("gpu", "original"): pytest.approx(800),
        ("cpu1", "original"): pytest.approx(100),
    }
    [(variant, ref, other, n)] = result.equivalents()
    assert (variant, ref, other) == ("original", "gpu", "cpu1") and n == pytest.approx(8.0)
    assert result.equivalent_lines() == ["original: 1 × gpu ≈ 8.00 × cpu1"]
    # what the CLI's table, the Capacity tab and the report print (one text for all three)
    assert "  original: 1 × gpu ≈ 8.00 × cpu1" in capacity_table(result).splitlines()
    model = CapacityModel()
    model.result = result
    assert model.equivalent_rows() == result.equivalent_lines()
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["knees"][0]["level"] == 4 and doc["equivalents"][0]["count"] == pytest.approx(8.0)
    again = CapacityResult.from_dict(doc)
    assert again.sustained() == result.sustained()
    assert again.levels[2].percentile_ms(99) == result.levels[2].percentile_ms(99)


def test_plan_validation_and_round_trip():
    plan = LoadPlan(mode="rate", levels=(10, 20.5), latency_limit_ms=100, seed=3)
    assert LoadPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    for bad in (
        dict(levels=()),
        dict(levels=(0,)),
        dict(levels=(1.5,)),
        dict(window_s=0),
        dict(stability=1.5),
        dict(max_windows=2),
        dict(latency_limit_ms=-1),
        dict(start_at=(1.0,), levels=(1, 2)),
    ):
        with pytest.raises(ValueError):
            LoadPlan(**bad)


def test_agent_plan_directory_and_merging_windows(tmp_path):
    spec = BackendSpec("gpu", "10.0.0.5:8500", model="m", headers=(("authorization", "secret"),))
    target = LoadTarget(
        spec,
        "10.0.0.5:8500",
        "512-jpeg",
        "512 px JPEG q90",
        payloads=(
            PreparedRequest("/tensorflow.serving.PredictionService/Predict", b"\x01req-a"),
            PreparedRequest(
                "/v2/models/m/infer", b"\x02req-b", (("Inference-Header-Content-Length", "2"),)
            ),
        ),
    )
    plan = LoadPlan(levels=(2, 4), start_at=(5000.0, 5030.0), fixed_windows=3)
    write_plan_dir(tmp_path / "plan", plan, [target], agent="load-1")
    assert "secret" not in (tmp_path / "plan" / "plan.json").read_text()
    agent, plan2, [target2] = read_plan_dir(tmp_path / "plan")
    assert (agent, plan2, target2.payloads, target2.backend.model) == (
        "load-1",
        plan,
        target.payloads,
        "m",
    )
    # two agents' window 0 of level 2 merge into one window; other lines are skipped
    a = level_window(0, 100, 10.0, level=2, variant="512-jpeg", errors={"UNAVAILABLE": 2})
    b = level_window(0, 50, 30.0, level=2, variant="512-jpeg", busy=0.95, errors={"UNAVAILABLE": 1})
    c = level_window(1, 100, 10.0, level=2, variant="512-jpeg")
    lines = [
        json.dumps({"type": "window", "agent": n, **w.to_dict()})
        for n, w in (("x", a), ("y", b), ("x", c))
    ]
    lines.insert(1, json.dumps({"type": "message", "text": "hello"}))
    merged = merge_window_lines(lines)
    assert [w.index for w in merged] == [0, 1]
    w0 = merged[0]
    assert (w0.ok, w0.errors, w0.agents, w0.loop_busy) == (150, {"UNAVAILABLE": 3}, 2, 0.95)
    assert w0.hist.count == a.hist.count + b.hist.count
    assert w0.p99_ms == pytest.approx(LatencyHistogram.merged([a.hist, b.hist]).percentile_ms(99))


def test_sweeps_saved_in_sessions_compare_and_old_sessions_open(tmp_path):
    import sqlite3

    from tfcompare.load.capacity_formats import capacity_of, save_capacity
    from tfcompare.session import load_session

    before = sweep_result({"gpu": (100, 200, 400), "cpu": (50, 50, 50)})
    after = sweep_result({"gpu": (100, 300, 500)})
    save_capacity(tmp_path / "a.tfcs", before, title="before")
    save_capacity(tmp_path / "b.tfcs", after)
    again = capacity_of(load_session(tmp_path / "a.tfcs"))
    assert again.sustained() == before.sustained()
    assert again.levels[0].windows[0].hist.count == before.levels[0].windows[0].hist.count
    # a schema-2 session (no capacity table) still opens, without a sweep
    old = tmp_path / "old.tfcs"
    from tfcompare.session.schema import APPLICATION_ID, DDL_BY_SCHEMA

    with sqlite3.connect(old) as con, sqlite3.connect(tmp_path / "a.tfcs") as src:
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.execute("PRAGMA user_version=2")
        con.executescript(DDL_BY_SCHEMA[2])
        for table in ("meta", "backends"):  # the schema-2 tables a sweep's session fills
            rows = src.execute(f"SELECT * FROM {table}").fetchall()
            con.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
    saved = load_session(old)
    assert saved.schema == 2 and capacity_of(saved) is None
    proc = run_tfcompare("compare", str(tmp_path / "a.tfcs"), str(tmp_path / "b.tfcs"))
    assert proc.returncode == 0, proc.stderr
    assert "sustained req/s at p99 ≤ 100 ms" in proc.stdout
    # sweeps alone: each session is described by its sweep, and no empty latency table is
    # reported as "nothing measured in both"
    assert "“before” (saved " in proc.stdout and "a capacity sweep of 6 level(s)" in proc.stdout
    assert "measured in both" not in proc.stdout and "measured request" not in proc.stdout
    gpu = next(line for line in proc.stdout.splitlines() if line.startswith("gpu"))
    assert "400.0" in gpu and "500.0" in gpu and "+25.0%" in gpu
    assert "(only in A)" in next(
        line for line in proc.stdout.splitlines() if line.startswith("cpu")
    )
    proc = run_tfcompare("compare", str(old), str(tmp_path / "b.tfcs"), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["capacity"]
    assert rows == [
        {
            "backend": "gpu",
            "variant": "original",
            "a": None,
            "b": pytest.approx(500),
            "change_pct": None,
            "only_in": "B",
            "a_lower_bound": None,
            "b_lower_bound": None,
        }
    ]

    # a saved sweep is exported again exactly as tfcompare load wrote it
    from tfcompare.load.capacity_formats import capacity_csv, capacity_json

    out = tmp_path / "again.csv"
    proc = run_tfcompare(
        "export",
        str(tmp_path / "a.tfcs"),
        "--capacity-csv",
        str(out),
        "--capacity-json",
        "-",
        "--csv",
        str(tmp_path / "runs.csv"),
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == capacity_csv(before) and proc.stdout == capacity_json(again)
    assert "holds a capacity sweep and no per-request measurements" in proc.stderr
    proc = run_tfcompare("export", str(old), "--capacity-csv", str(tmp_path / "none.csv"))
    assert proc.returncode == 1 and "holds no capacity sweep" in proc.stderr
    assert not (tmp_path / "none.csv").exists()


def test_variants_can_be_typed_as_the_window_names_them():
    from tfcompare.gui.chart_base import short_variant
    from tfcompare.load.prepare import PrepareError, parse_variants

    keys = ("original", "512-jpeg", "128-png", "2048-webp")
    shown = ", ".join(short_variant(k) for k in keys)  # "original, 512 jpg, 128 png, 2048 webp"
    assert parse_variants(shown) == keys
    assert parse_variants("512 px JPEG,512-jpg , 512-jpeg") == ("512-jpeg",)
    for bad in ("512 gif", "jpg 512", "512 jpeg q90", "0 png"):
        with pytest.raises(PrepareError, match="bad variant"):
            parse_variants(bad)


@pytest.fixture(scope="module")
def small_cat(tmp_path_factory):
    from gui_helpers import small_photos

    return small_photos(tmp_path_factory.mktemp("small"), names=("chelsea",), longest=300)[0]


def test_default_variants_fall_back_to_a_smaller_jpeg_for_small_images(small_cat):
    from tfcompare.load.load_plan import DEFAULT_VARIANTS
    from tfcompare.load.prepare import variant_payloads

    payloads, info, notes = variant_payloads([small_cat], DEFAULT_VARIANTS, default=True)
    assert list(payloads) == ["original", "256-jpeg"]  # 512 would be an upscale
    assert all(len(blobs) == 1 for blobs in payloads.values())
    assert payloads["256-jpeg"][0][:2] == b"\xff\xd8" and info["256-jpeg"]["label"]
    assert any(
        "512-jpeg: no image is larger than 300 px" in n and "loading 256-jpeg instead" in n
        for n in notes
    )


def test_chosen_variants_no_image_has_are_left_out_or_refused(small_cat):
    from tfcompare.load.prepare import PrepareError, variant_payloads

    payloads, _, notes = variant_payloads([small_cat], ["original", "512-jpeg"])
    assert list(payloads) == ["original"]  # a user's own choice is not replaced
    assert any("512-jpeg" in n and "left out" in n for n in notes)
    with pytest.raises(PrepareError, match="no image has the variant.s. 512-jpeg.*300 px"):
        variant_payloads([small_cat], ["512-jpeg"])
    payloads, _, _ = variant_payloads([small_cat], ["1024-png"], default=True)
    assert list(payloads) == ["256-png"]  # a fallback keeps the format


def test_default_variants_of_a_tiny_image_are_the_original_alone(tmp_path):
    from PIL import Image

    from tfcompare.load.load_plan import DEFAULT_VARIANTS
    from tfcompare.load.prepare import variant_payloads

    tiny = tmp_path / "icon.png"
    Image.new("RGB", (100, 80), (200, 30, 30)).save(tiny)
    payloads, _, notes = variant_payloads([tiny], DEFAULT_VARIANTS, default=True)
    assert list(payloads) == ["original"]  # no box of the ladder fits below 100 px
    assert any("no image is larger than 100 px" in n and "left out" in n for n in notes)


def test_load_cli_default_variants_work_for_a_small_photo(small_cat):

    proc = run_tfcompare(
        "load", str(small_cat), "-b", "a=127.0.0.1:9/m", "--concurrency", "1", "--timeout", "2"
    )
    assert "loading 256-jpeg instead" in proc.stderr
    assert "no image has" not in proc.stderr and "backend a" in proc.stderr
    assert proc.returncode == 1  # nothing measured: the one backend is unreachable


def test_a_sweeps_setup_in_the_report_survives_a_hostile_plan():
    from tfcompare.report.capacity import sweep_tables

    cap = CapacityResult(
        plan={
            "mode": ["rate"],
            "levels": ["<b>1</b>", {}, 2, True],
            "window_s": "5",
            "stability": None,
            "latency_limit_ms": 1e308,
            "stable_windows": -3,
        },
        backends=[],
        variants={
            "original": "not a dict",
            "<i>x</i>": {"bytes": "9"},
            "512-jpeg": {"bytes": 52 * 1024},
        },
    )
    settings, variants = sweep_tables(cap)
    rows = dict(settings.rows)
    assert rows["levels"] == "–, –, 2, –" and rows["window"] == "–"
    assert rows["load"].startswith("closed loop")  # only the string "rate" means open loop
    assert rows["p99 limit"] == "1e+308 ms" and rows["measured"].startswith("unknown")
    assert dict(variants.rows) == {"original": "–", "<i>x</i>": "–", "512-jpeg": "52 KB"}


def test_hostile_histograms_are_refused_without_inflating_them():
    import tracemalloc

    full = LatencyHistogram()
    for us in (1, 7, 999, 12_345, 10**6, 599_999_999):  # the whole range still round-trips
        full.record_s(us / 1e6)
    assert LatencyHistogram.decode(full.encode()).count == 6
    hostile = {
        "inflates to gigabytes": (inflating(1000, hdr_header()), "more than any latency histogram"),
        "inflates to 200 MB": (inflating(200, hdr_header()), "inflates to more than"),
        # a few bytes asking for a histogram of 2^62 µs at 5 digits (~6 million counters)
        "huge settings": (inflating(0, hdr_header(digits=5, highest=2**62)), "settings"),
        "not base64": ("#" * 100, "not base64"),
        "not zlib": ("AAAAAAAAAAAAAAAA", "not zlib"),
    }
    for name, (text, why) in hostile.items():
        tracemalloc.start()
        with pytest.raises(ValueError, match=why):
            LatencyHistogram.decode(text)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 4 * len(text) + (2 << 20), name  # bounded by the text, never inflated
    with pytest.raises(ValueError, match="not text"):
        LatencyHistogram.decode(["x"])


def test_a_session_whose_sweep_hides_a_zlib_bomb_is_refused_as_damaged(tmp_path):

    session = damaged_sweep_session(tmp_path / "bomb.tfcs", bomb_in_a_window)
    for args, code in (
        (["report", str(session), "--out", str(tmp_path / "r.html")], 1),
        (["compare", str(session), str(session)], 2),
        (["export", str(session), "--capacity-csv", str(tmp_path / "c.csv")], 1),
    ):
        proc = run_tfcompare(*args)
        assert proc.returncode == code, (args, proc.stderr)
        assert "capacity sweep in the session is damaged" in proc.stderr
        assert "inflates to more than any latency histogram holds" in proc.stderr


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["plan"].__setitem__("latency_limit_ms", "100"),
        lambda d: d["plan"].__setitem__("levels", "abc"),
        lambda d: d["plan"].__setitem__("mode", "burst"),
        lambda d: d.__setitem__("plan", [1, 2]),
        lambda d: d.__setitem__("messages", [1, {"a": 2}]),
        lambda d: d["levels"][0].__setitem__("server_ms", "x"),
        lambda d: d["levels"][0].__setitem__("stop_reason", {"x": 1}),
        lambda d: d.__setitem__("backends", [1, "x"]),
        lambda d: d.__setitem__("variants", {"original": 5}),
    ],
    ids=[
        "limit text",
        "levels text",
        "mode",
        "plan list",
        "messages",
        "server_ms",
        "stop_reason",
        "backends",
        "variants",
    ],
)
def test_a_sweep_with_values_tfcompare_never_writes_is_damaged_not_a_crash(tmp_path, damage):

    session = damaged_sweep_session(
        tmp_path / "odd.tfcs", damage, {"gpu": (100, 200, 400), "cpu": (50, 60, 70)}
    )
    for args, code in (
        (["compare", str(session), str(session)], 2),
        (["report", str(session), "--out", str(tmp_path / "r.html")], 1),
    ):
        proc = run_tfcompare(*args)
        assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
        assert "the capacity sweep in the session is damaged" in proc.stderr


def test_the_reports_capacity_verdict_calls_backends_closer_than_the_stability_tolerance_even():
    from tfcompare.report.capacity import capacity_verdict

    # knees 400 vs 380 req/s: 5 % apart, inside the ±10 % a stable level may vary
    close = capacity_verdict(sweep_result({"gpu": (100, 200, 400), "cpu": (100, 200, 380)}))
    assert close == (
        "Under load: gpu and cpu sustain about the same at original (400.0 and "
        "380.0 req/s: closer than the ±10 % a stable level may vary)."
    )
    apart = capacity_verdict(sweep_result({"gpu": (100, 200, 400), "cpu": (100, 200, 300)}))
    assert apart == "Under load: gpu sustains the most at original (400.0 req/s, 1.33× the next)."
    # a sweep run with a tighter tolerance tells the same two apart
    tight = sweep_result({"gpu": (100, 200, 400), "cpu": (100, 200, 380)})
    tight.plan["stability"] = 0.02
    assert "gpu sustains the most at original (400.0 req/s, 1.05× the next)" in capacity_verdict(
        tight
    )


def test_a_knee_gate_on_sweeps_alone_reads_as_one_and_warns_of_a_limit_inside_the_noise():
    from tfcompare.load.capacity_text import compare_capacity, format_capacity_comparison
    from tfcompare.report.gate import parse_rule, run_gate
    from tfcompare.report.gate_text import gate_markdown, gate_text
    from tfcompare.results import RunResult
    from tfcompare.settings import RunSettings

    empty = RunResult(
        settings=RunSettings(), backends=(), images=(), requests=(), problems=(), summary=()
    )
    base = sweep_result({"cpu-2-batching": (100, 200, 400)})
    new = sweep_result({"cpu-2-batching": (100, 200, 390)})  # −2.5 %: inside ±10 %
    tight = run_gate(empty, empty, [parse_rule("knee:-5%")], capacity=(base, new))
    assert tight.exit_code == 0
    text = gate_text(tight)
    assert "image" not in text  # no per-request rule: no word of images shared or compared
    assert text.rstrip().endswith("gate: PASSED (0 of 1 rule(s) failed; capacity sweeps compared)")
    assert (
        "note: rule knee:-5%: a sweep counts a level as stable while its windows differ by up "
        "to ±10 %, so a smaller drop can be window-to-window noise"
    ) in text
    assert "capacity sweeps compared." in gate_markdown(tight, "a.tfcs", "b.tfcs")
    loose = run_gate(empty, empty, [parse_rule("knee:-10%")], capacity=(base, new))
    assert not loose.notes
    # the capacity table keeps its columns for backend names longer than the header
    table = format_capacity_comparison(compare_capacity(base, new), 100, 100).splitlines()
    header, row = table[2], table[3]
    assert row.startswith("cpu-2-batching  original")
    assert (
        header.index(" A") + 1 == header.index("A")
        and row.rindex("400.0") + 5 == header.index("A") + 1
    )


def test_the_level_table_keeps_its_columns_for_a_long_backend_name():
    long = "tfs-resnet50-gpu-production"
    lines = capacity_table(sweep_result({long: (100, 200, 400), "cpu": (50, 60, 70)})).splitlines()
    header = lines[0]
    rows = [line for line in lines[1:] if line.startswith((long, "cpu "))]
    assert len(rows) == 6
    end = header.index("conc.") + len("conc.")  # the level column is right-aligned under it
    assert {row[end - 1] for row in rows} == {"1", "2", "4"}
    assert {row[end] for row in rows} == {" "}


def test_a_p99_from_fewer_than_a_hundred_answers_is_called_so_on_every_surface():
    from tfcompare.report.capacity import capacity_caveats

    # 3 windows of 1 s at 10 and 20 answers/s: 30 and 60 answers; at 50/s: 150
    result = sweep_result({"gpu": (10, 20, 50)})
    note = result.thin_p99_note()
    assert note == (
        "p99 from fewer than 100 answers, in effect the slowest one (a longer "
        "measurement window gives a firmer p99): gpu original at c=1 (30), "
        "gpu original at c=2 (60)"
    )
    assert f"note: {note}" in capacity_table(result).splitlines()
    assert f"capacity: {note}" in capacity_caveats(result)
    assert sweep_result({"gpu": (100, 200, 400)}).thin_p99_note() is None


def test_load_options_share_run_names_and_show_their_defaults(capsys, tmp_path):
    """``load --help`` shows the latency limit's default; the JPEG quality is ``--jpeg-quality``
    as in ``run`` and ``demo``, and the old ``--quality`` still works (unlisted)."""
    from tfcompare.cli import build_parser, main
    from tfcompare.cli.run_options import qualities_from_args

    with pytest.raises(SystemExit):
        main(["load", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--latency-limit MS" in text and "(default: none, no limit)" in text
    assert "--jpeg-quality Q" in text and "--webp-quality Q" in text
    assert "--quality" not in text.replace("-quality Q", "")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--jpeg-quality Q" in capsys.readouterr().out
    parser = build_parser()
    args = parser.parse_args(["load", "x.jpg", "-b", "a=h:1/m", "--quality", "70"])
    assert qualities_from_args(args) == (70, 70)
    args = parser.parse_args(["load", "x.jpg", "-b", "a=h:1/m", "--jpeg-quality", "60"])
    assert qualities_from_args(args) == (60, 90)
    image = tmp_path / "x.jpg"
    from images import jpeg_bytes, photo

    image.write_bytes(jpeg_bytes(photo("chelsea")))
    with pytest.raises(SystemExit) as exit_:
        main(["load", str(image), "-b", "a=127.0.0.1:1/m", "--jpeg-quality", "0"])
    assert exit_.value.code == 2
    assert "--jpeg-quality must be between 1 and 100, not 0" in capsys.readouterr().err
