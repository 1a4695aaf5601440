"""The one sweep pipeline (``tfcompare.load.pipeline.run_sweep``) and ``tfcompare load`` on top of
it, end to end in-process: real images, variants, request preparation, load engine and results;
the last hop is the in-memory transport of tests/fake_transport.py (fast tier, no subprocess)."""

from __future__ import annotations

import threading

import pytest
from gui_helpers import small_photos

from tfcompare.cli import main
from tfcompare.load.events import (
    LevelDone,
    Stage,
    SweepMessage,
    SweepStage,
    TargetDone,
    WindowDone,
)
from tfcompare.load.load_plan import LoadPlan
from tfcompare.load.pipeline import NothingToMeasure, SweepJob, run_sweep
from tfcompare.load.prepare import PrepareError

QUICK = LoadPlan(levels=(1, 4), window_s=0.05, max_windows=3)  # short: the order matters here


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return small_photos(tmp_path_factory.mktemp("photos"))  # chelsea, coffee: 300 px


def test_every_backend_and_variant_is_swept_in_order_with_events(fake_servers, photos):
    _, one = fake_servers.add("one", latency_s=0.003, slots=1)
    _, two = fake_servers.add("two", latency_s=0.001, slots=4)
    events = []
    job = SweepJob(QUICK, (one, two), tuple(photos), ("original", "128-jpeg"))
    result = run_sweep(job, on_event=events.append)
    assert [(lv.backend, lv.variant, lv.level) for lv in result.levels] == [
        (b, v, c) for b in ("one", "two") for v in ("original", "128-jpeg") for c in (1, 4)
    ]
    stages = [e.stage for e in events if isinstance(e, SweepStage)]
    assert stages == [Stage.PREPARING, Stage.CONNECTING, Stage.MEASURING]
    # each pair's levels, then its TargetDone: the window knows its figures are final
    order = [
        (type(e).__name__, e.level.backend if isinstance(e, LevelDone) else e.backend)
        for e in events
        if isinstance(e, LevelDone | TargetDone)
    ]
    assert order == [
        ("LevelDone", "one"),
        ("LevelDone", "one"),
        ("TargetDone", "one"),
        ("LevelDone", "one"),
        ("LevelDone", "one"),
        ("TargetDone", "one"),
        ("LevelDone", "two"),
        ("LevelDone", "two"),
        ("TargetDone", "two"),
        ("LevelDone", "two"),
        ("LevelDone", "two"),
        ("TargetDone", "two"),
    ]
    assert sum(isinstance(e, WindowDone) for e in events) == sum(
        len(lv.windows) for lv in result.levels
    )
    # one request at a time on "one": four in flight queue behind each other
    low, high = result.curve("one", "original")
    assert high.percentile_ms(50) > 2 * low.percentile_ms(50)
    assert all(lv.ok > 0 and lv.n_errors == 0 for lv in result.levels)
    assert not result.cancelled and result.finished_at >= result.started_at > 0


def test_a_backend_that_cannot_be_used_is_said_and_the_others_are_measured(fake_servers, photos):
    _, good = fake_servers.add("good")
    down, bad = fake_servers.add("down")
    down.reachable = False
    said = []
    job = SweepJob(QUICK, (bad, good), tuple(photos[:1]), ("original",))
    result = run_sweep(
        job, on_event=lambda e: said.append(e.text) if isinstance(e, SweepMessage) else None
    )
    assert {lv.backend for lv in result.levels} == {"good"}
    [problem] = [m for m in result.messages if m.startswith("backend down")]
    assert "not measured" in problem and "not reachable (connection refused)" in problem
    assert problem in said  # said as it happened, and kept with the result


def test_nothing_to_measure_says_why_for_each_backend(fake_servers, photos):
    server, spec = fake_servers.add("wrong")
    server.model = "other"  # the backend serves another model than the one asked for
    with pytest.raises(NothingToMeasure) as caught:
        run_sweep(SweepJob(QUICK, (spec,), tuple(photos[:1]), ("original",)))
    assert len(caught.value.problems) == 1 and "backend wrong" in caught.value.problems[0]


def test_images_keep_their_names_in_the_notes(fake_servers, photos):
    """Images given as (name, bytes) — a reopened session's — are named, never 'pasted image'."""
    from PIL import Image

    _, spec = fake_servers.add("a")
    small = photos[0].parent / "small.png"
    Image.open(photos[0]).resize((100, 75)).save(small)
    images = (("cat from the session.jpg", photos[0].read_bytes()), ("tiny.png", small))
    result = run_sweep(SweepJob(QUICK, (spec,), images, ("original", "256-jpeg")))
    assert "tiny.png: no 256-jpeg variant (the image is smaller; never upscaled)" in (
        result.messages
    )
    assert not any("pasted" in m for m in result.messages)


def test_cancel_stops_between_windows_and_returns_what_was_measured(fake_servers, photos):
    server, spec = fake_servers.add("a")
    cancel = threading.Event()
    levels = []

    def on_event(event) -> None:
        if isinstance(event, LevelDone):
            levels.append(event.level)
            server.hold()  # the next level's requests wait…
            cancel.set()  # …and the sweep is cancelled while they do

    plan = LoadPlan(levels=(1, 2, 4), window_s=0.05, max_windows=3)
    result = run_sweep(
        SweepJob(plan, (spec,), tuple(photos), ("original",)), on_event=on_event, cancel=cancel
    )
    assert result.cancelled and [lv.level for lv in result.levels] == [1]


def test_a_sweep_cancelled_before_it_starts_measures_nothing(fake_servers, photos):
    server, spec = fake_servers.add("a")
    cancel = threading.Event()
    cancel.set()
    result = run_sweep(SweepJob(QUICK, (spec,), tuple(photos), ("original",)), cancel=cancel)
    assert result.cancelled and result.levels == [] and server.received == 0


def test_bad_jobs_are_refused_before_anything_runs(photos, fake_servers):
    from tfcompare.load.incluster import InCluster

    _, spec = fake_servers.add("a")
    with pytest.raises(ValueError, match="at least 3"):
        SweepJob(QUICK, (spec,), tuple(photos), in_cluster=InCluster(agents=3))
    with pytest.raises(ValueError, match="no image"):
        SweepJob(QUICK, (spec,), ())
    with pytest.raises(PrepareError, match="no image has"):
        run_sweep(SweepJob(QUICK, (spec,), tuple(photos), ("2048-jpeg",)))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["load", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tfcompare_load_runs_the_pipeline_and_prints_the_table(fake_servers, photos, capsys):
    _, a = fake_servers.add("a")
    _, b = fake_servers.add("b")
    code, out, err = run_cli(
        capsys,
        str(photos[0]),
        "-b",
        f"a={a.target}/tiny,protocol=fake",
        "-b",
        f"b={b.target}/tiny,protocol=fake",
        "--concurrency",
        "1,2",
        "--window-s",
        "0.05",
        "--max-windows",
        "3",
    )
    assert code == 0, err
    # the default variants for a 300 px photo: the original and the largest smaller JPEG
    assert "note: 512-jpeg: no image is larger than 300 px" in err
    assert "a/original level 1 window 1:" in err and "b/256-jpeg level 2:" in err
    assert "sustained req/s (no latency limit)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("a ", "b "))]
    assert [(r[0], r[1], r[2]) for r in rows[:8]] == [
        (b_, v, c) for b_ in "ab" for v in ("original", "256-jpeg") for c in "12"
    ]


def test_no_stable_level_is_not_said_to_be_within_a_limit_when_there_is_none(
    fake_servers, photos, capsys
):
    _, a = fake_servers.add("a")
    common = [str(photos[0]), "-b", f"a={a.target}/tiny,protocol=fake", "--variants", "original"]
    never = [
        "--concurrency",
        "1",
        "--window-s",
        "0.05",
        "--max-windows",
        "3",
        "--stability",
        "0.001",
    ]
    code, out, err = run_cli(capsys, *common, *never)  # windows never agree that closely
    assert code == 0, err
    assert "none (no stable level;" in out and "within the limit" not in out
    code, out, err = run_cli(capsys, *common, *never, "--latency-limit", "500")
    assert "none (no stable level within the limit" in out


def test_tfcompare_load_with_no_usable_backend_says_why_and_fails(fake_servers, photos, capsys):
    down, spec = fake_servers.add("down")
    down.reachable = False
    code, out, err = run_cli(
        capsys, str(photos[0]), "-b", f"down={spec.target}/tiny,protocol=fake", "--window-s", "0.05"
    )
    assert code == 1 and "backend down: not measured" in err
    assert "no backend could be measured" in err and out == ""
