"""Crafted capacity sweeps in session files: histogram counts the native HdrHistogram codec cannot
hold, sweeps of tens of thousands of windows, numbers no sweep has (NaN, infinity, 10**400).
Every command that reads a sweep (export, report, render, compare) and the window answer with a
message naming the field or the bound, in bounded memory, with their documented exit status —
never a signal, a MemoryError or a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import limited
import pytest
from cli_inprocess import run_tfcompare
from crafted_sweeps import damage_sweep, good_sweep, hdr_text, sweep_session

from tfcompare.load.capacity_results import CapacityResult, LevelResult, WindowSummary
from tfcompare.load.histogram import MAX_COUNT, LatencyHistogram
from tfcompare.load.sweep_limits import MAX_SWEEP_WINDOWS

TESTS = Path(__file__).parent

# A count the decoder still reads (2^62 and more do not decode) and three of which, merged into
# a level, pass 2^63: the native encoder then overruns its buffer and the process aborts.
HUGE = 2**62 - 1


def _huge_counts(doc):
    for w in doc["levels"][0]["windows"]:
        w["hist"] = hdr_text({2048: HUGE})


def _commands(session: Path, out: Path):
    """Each command that reads a sweep, with its documented status for an unreadable session."""
    return {
        "export csv": (["export", session, "--capacity-csv", out / "c.csv"], 1),
        "export json": (["export", session, "--capacity-json", out / "c.json"], 1),
        "report": (["report", session, "--out", out / "r.html"], 1),
        "render": (["render", session, "--out", out / "r.png"], 2),
        "compare": (["compare", session, session], 2),
    }


@pytest.mark.slow  # what fails is the process (SIGABRT): each command runs in one of its own
@pytest.mark.parametrize("command", ["export csv", "export json", "report", "compare"])
def test_histogram_counts_the_native_codec_cannot_hold_are_refused_not_a_signal(tmp_path, command):
    session = sweep_session(tmp_path / "huge.tfcs", _huge_counts)
    args, code = _commands(session, tmp_path)[command]
    proc = limited.run_tfcompare(*args)
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])  # -6: SIGABRT
    assert "Traceback" not in proc.stderr
    assert "levels[0].windows[0].hist" in proc.stderr
    assert f"at most {MAX_COUNT:,} per histogram" in proc.stderr
    assert "huge.tfcs" in proc.stderr


def test_counts_past_the_bound_are_refused_and_merges_never_reach_the_codec_limit():
    with pytest.raises(ValueError, match="more than any sweep records"):
        LatencyHistogram.decode(hdr_text({2048: MAX_COUNT + 1}))
    with pytest.raises(ValueError, match="more than any sweep records"):
        LatencyHistogram.decode(hdr_text({2048: MAX_COUNT // 2, 3000: MAX_COUNT // 2 + 2}))
    # a zig-zag varint that decodes as a negative count is 2^64 - 1 in a 64-bit counter
    with pytest.raises(ValueError, match="more than any sweep records"):
        LatencyHistogram.decode(hdr_text({2048: 2**63 - 1}))
    at_bound = LatencyHistogram.decode(hdr_text({2048: MAX_COUNT}))
    assert at_bound.count == MAX_COUNT and at_bound.percentile_ms(50) == pytest.approx(2.049)
    merged = LatencyHistogram.merged([at_bound] * 3)
    assert merged.count == 3 * MAX_COUNT
    assert merged.compact().percentile_ms(50) == pytest.approx(2.049)  # encoded and read back
    big = LatencyHistogram()
    big._live().record_value(2000, 2**52)  # a live histogram near the merge bound
    with pytest.raises(ValueError, match="more than the"):
        LatencyHistogram.merged([big, big, big])


@pytest.mark.slow  # a native library's heap corruption is a signal: the window runs apart
def test_window_file_save_after_opening_a_crafted_sweep_keeps_the_process_alive(tmp_path):
    """File → Open session… on a session whose sweep holds huge counts, then File → Save
    session as…: a warning naming the histogram, the comparison opens and saves, and the process
    ends normally (without the bound, Save aborts it: SIGABRT)."""
    from gui_helpers import synthetic_session

    from tfcompare.load.capacity_formats import save_capacity
    from tfcompare.session import load_session

    comparison = load_session(synthetic_session(tmp_path / "run.tfcs")).result
    crafted = tmp_path / "crafted.tfcs"
    save_capacity(crafted, good_sweep(), comparison)
    damage_sweep(crafted, _huge_counts)
    saved = tmp_path / "saved.tfcs"
    proc = subprocess.run(
        [sys.executable, "-c", "import window_probe; window_probe.main()", crafted, saved],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "its capacity sweep is not shown" in shown["status"]
    assert "levels[0].windows[0].hist" in shown["status"] and "per histogram" in shown["status"]
    assert shown["saved"] and shown["levels"] == 0
    assert load_session(saved).result.measured  # the comparison was saved whole


def _many_windows(n_levels: int, per_level: int, *, with_samples: bool):
    """Every level of the sweep replaced by ``n_levels`` copies of its first level, each with
    ``per_level`` copies of its first window (empty histograms unless ``with_samples``)."""

    def damage(doc):
        level = dict(doc["levels"][0])
        win = dict(level["windows"][0])
        if not with_samples:
            win["hist"] = ""
        level["windows"] = [win] * per_level
        level["counted_windows"] = 3
        doc["levels"] = [level] * n_levels

    return damage


def test_a_sweep_of_30000_windows_is_too_large_in_bounded_memory(tmp_path):
    session = sweep_session(tmp_path / "wide.tfcs", _many_windows(300, 100, with_samples=False))
    for name, (args, code) in _commands(session, tmp_path).items():
        proc = run_tfcompare(*args, timeout=180)
        assert proc.returncode == code, (name, proc.returncode, proc.stderr[-2000:])
        assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr, name
        assert "the capacity sweep in the session is too large" in proc.stderr, name
        assert f"30,000 windows; tfcompare reads at most {MAX_SWEEP_WINDOWS:,}" in proc.stderr


def test_the_largest_sweep_read_costs_its_text_not_a_histogram_per_window(tmp_path):
    """20,000 windows (the bound): empty histograms allocate nothing, decoded ones keep their
    text. Without that, 20,000 × 168 KiB histograms exceed the 3 GiB the command may use."""
    empty = sweep_session(tmp_path / "empty.tfcs", _many_windows(200, 100, with_samples=False))
    full = sweep_session(tmp_path / "full.tfcs", _many_windows(200, 100, with_samples=True))
    proc = run_tfcompare("compare", empty, full)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gpu" in proc.stdout and "sustained req/s" in proc.stdout


@pytest.mark.slow  # in-process, but ~10 s: each of the 200 levels' mean walks its histogram
def test_the_largest_sweep_exports_every_level_in_bounded_memory(tmp_path):
    full = sweep_session(tmp_path / "full.tfcs", _many_windows(200, 100, with_samples=True))
    proc = run_tfcompare("export", full, "--capacity-csv", tmp_path / "c.csv")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len((tmp_path / "c.csv").read_text().splitlines()) == 201


def test_windows_and_levels_are_bounded_by_the_plan():
    doc = good_sweep().to_dict()
    doc["levels"][0]["windows"] *= 40  # 120 windows in one level: max_windows is at most 100
    with pytest.raises(ValueError, match="120 windows in levels\\[0\\]; tfcompare reads at most"):
        CapacityResult.from_dict(doc)
    doc = good_sweep().to_dict()
    doc["levels"] *= 1000
    with pytest.raises(ValueError, match="6,000 levels; tfcompare reads at most 4,096"):
        CapacityResult.from_dict(doc)


_NOT_REAL = {
    "plan levels inf": (
        lambda d: d["plan"].__setitem__("levels", ["inf"]),
        "plan.levels[0] must be a number from 0 to 1,000,000, not 'inf'",
    ),
    "ok 10**400": (
        lambda d: d["levels"][0]["windows"][0].__setitem__("ok", 10**400),
        "levels[0].windows[0].ok must be a whole number from 0 to 1,099,511,627,776, "
        "not a huge number",
    ),
    "started_at nan": (
        lambda d: d.__setitem__("started_at", "nan"),
        "started_at must be a number from 0 to",
    ),
    "level nan": (
        lambda d: d["levels"][1].__setitem__("level", "nan"),
        "levels[1].level must be a number from 0 to 1,000,000, not 'nan'",
    ),
    "window level inf": (
        lambda d: d["levels"][0]["windows"][2].__setitem__("level", "inf"),
        "levels[0].windows[2].level must be a number",
    ),
    "negative duration": (
        lambda d: d["levels"][0]["windows"][0].__setitem__("duration_s", -1.0),
        "levels[0].windows[0].duration_s must be a number from 0 to",
    ),
    "negative ok": (
        lambda d: d["levels"][0]["windows"][1].__setitem__("ok", -50),
        "levels[0].windows[1].ok must be a whole number from 0",
    ),
    "count as text": (
        lambda d: d["levels"][0]["windows"][1].__setitem__("sent", "12"),
        "levels[0].windows[1].sent must be a whole number",
    ),
    "errors huge": (
        lambda d: d["levels"][0]["windows"][0].__setitem__("errors", {"UNAVAILABLE": 10**30}),
        "levels[0].windows[0].errors['UNAVAILABLE'] must be a whole number",
    ),
    "stable as text": (
        lambda d: d["levels"][0].__setitem__("stable", "yes"),
        "levels[0].stable must be true or false",
    ),
    "server_ms inf": (
        lambda d: d["levels"][0].__setitem__("server_ms", "inf"),
        "levels[0].server_ms must be a number",
    ),
    "variant bytes nan": (
        lambda d: d["variants"]["original"].__setitem__("bytes", "nan"),
        "variants['original'].bytes must be a number",
    ),
    "counted past windows": (
        lambda d: d["levels"][0].__setitem__("counted_windows", 7),
        "levels[0].counted_windows must be a whole number from 0 to 3, not 7",
    ),
    "index missing": (
        lambda d: d["levels"][0]["windows"][0].pop("index"),
        "levels[0].windows[0].index is missing",
    ),
    "rate level nan": (
        lambda d: d["plan"].update(mode="rate", levels=["nan"]),
        "plan.levels[0] must be a number",
    ),
}


@pytest.mark.parametrize("case", list(_NOT_REAL))
def test_numbers_no_sweep_has_are_damage_naming_the_field_in_every_command(tmp_path, case):
    damage, message = _NOT_REAL[case]
    session = sweep_session(tmp_path / "odd.tfcs", damage)
    for name, (args, code) in _commands(session, tmp_path).items():
        if name in ("render", "export json") and case not in ("plan levels inf", "ok 10**400"):
            continue  # one reader for all: two commands are enough for most values
        proc = run_tfcompare(*args)
        assert proc.returncode == code, (name, proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (name, proc.stderr[-2000:])
        assert "the capacity sweep in the session is damaged" in proc.stderr, name
        assert message in proc.stderr, (name, proc.stderr)


def test_the_window_open_says_which_value_is_wrong_and_shows_no_made_up_level(
    tmp_path, qtbot, monkeypatch
):
    from gui_helpers import make_window
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    session = sweep_session(
        tmp_path / "nan.tfcs", lambda d: d["levels"][1].__setitem__("level", "nan")
    )
    window = make_window(qtbot)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    _menu(window, "File", "Open session…").trigger()
    text = window.statusBar().currentMessage()
    assert "nan.tfcs" in text and "levels[1].level must be a number" in text
    assert window.controller.capacity.result is None  # nothing shown as if it were measured


def _menu(window, *path):
    actions = window.menuBar().actions()
    for depth, name in enumerate(path):
        action = next(a for a in actions if a.text().replace("&", "") == name)
        if depth < len(path) - 1:
            actions = action.menu().actions()
    return action


def test_a_good_sweep_still_reads_back_exactly(tmp_path):
    sweep = good_sweep()
    back = CapacityResult.from_dict(json.loads(json.dumps(sweep.to_dict())))
    assert back.to_dict() == sweep.to_dict()
    assert [lv.throughput for lv in back.levels] == [lv.throughput for lv in sweep.levels]
    level = back.levels[0]
    assert isinstance(level, LevelResult) and isinstance(level.windows[0], WindowSummary)
    assert level.hist is level.hist  # merged once, kept compact
    session = sweep_session(tmp_path / "good.tfcs")
    proc = run_tfcompare("export", session, "--capacity-json", tmp_path / "c.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "c.json").read_text())["levels"][0]["ok"] == level.ok


@pytest.mark.parametrize(
    "args, message",
    [
        (("--concurrency", "inf"), "--concurrency must be positive numbers"),
        (("--rate", "nan"), "--rate must be positive numbers"),
        (("--max-windows", "1000"), "max windows must be at most 100"),
        (("--concurrency", ",".join(map(str, range(1, 70)))), "at most 64 load levels"),
        (("--window-s", "1e9"), "the window must be longer than 0 s and at most 3600 s"),
    ],
)
def test_a_sweep_tfcompare_would_not_read_back_is_refused_when_asked_for(args, message):
    proc = run_tfcompare("load", "x.jpg", "--backend", "a=127.0.0.1:1/m", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
