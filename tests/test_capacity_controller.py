"""The Capacity tab's controller without Qt, and with the window controller around it: sweeps
through the real pipeline and load engine against the in-memory backends of
tests/fake_transport.py (fast tier: no subprocess, no Qt)."""

from __future__ import annotations

import time

import pytest
from gui_helpers import small_photos

from tfcompare.load.capacity_results import CapacityResult
from tfcompare.load.load_plan import LoadPlan
from tfcompare.settings import RunSettings
from tfcompare.window import CapacityController, Outcome, WindowController
from tfcompare.window.capacity import MEASURING


def drain_until(controller, until, timeout: float = 60.0) -> None:
    """Apply the sweep's events (as the window's timer does) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        controller.drain()
        time.sleep(0.01)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return small_photos(tmp_path_factory.mktemp("photos"))  # chelsea, coffee: 300 px


class Heard:
    """Every signal a controller's events emitted, by name, with its arguments."""

    def __init__(self, events) -> None:
        self.calls: list[tuple[str, tuple]] = []
        events.all.connect(lambda info: self.calls.append((info.signal.name, info.args)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def quick(controller: CapacityController, levels: str = "1,2", variants: str = "original"):
    controller.set_fields(levels=levels, variants=variants, window_s=0.05, limit_ms=None)


@pytest.fixture
def sweeps(fake_servers, photos):
    """A capacity controller over two in-memory backends and two photos."""
    servers = [fake_servers.add("one", latency_s=0.003, slots=1), fake_servers.add("two")]
    specs = [spec for _, spec in servers]
    busy = {"reason": None}
    c = CapacityController(lambda: specs, lambda: [str(p) for p in photos], lambda: busy["reason"])
    c.servers = [server for server, _ in servers]
    c.busy = busy
    yield c
    c.close()


def test_a_sweep_runs_through_the_pipeline_and_ends_finished(sweeps):
    c = sweeps
    heard = Heard(c.events)
    quick(c)
    assert c.start() is None and c.running and c.job.plan.levels == (1, 2)
    drain_until(c, lambda: not c.running)
    assert c.finished.outcome is Outcome.FINISHED and c.status == "finished"
    assert [(lv.backend, lv.level) for lv in c.result.levels] == [
        ("one", 1),
        ("one", 2),
        ("two", 1),
        ("two", 2),
    ]
    assert c.unsaved and c.saved_sweep() is c.result and c.can_export
    names = heard.names()
    assert names[0] == "fields" and names.count("running") == 2 and names[-1] == "finished"
    assert heard.calls[-1][1][0] is c.finished
    rows = c.sustained_rows()
    assert [r[:2] for r in rows] == [("one", "original"), ("two", "original")]
    assert all(r[3] != MEASURING for r in rows)
    assert {curve.backend for curve in c.curves()} == {"one", "two"}


def test_figures_are_provisional_until_a_backend_is_done(sweeps):
    c = sweeps
    one, two = c.servers
    quick(c, levels="1,2")
    assert c.start() is None
    # the first level of "one" is in: hold "one" there, in the middle of its sweep
    drain_until(c, lambda: len(c.result.levels) >= 1)
    one.hold()
    drain_until(c, lambda: "window" in c.status)
    [row] = c.sustained_rows()
    assert row == ("one", "original", "…", MEASURING)  # never "none — no stable level"
    [curve] = c.curves()
    assert curve.points and curve.knee is None  # no ★ before its sweep is done
    assert c.equivalent_rows() == [] and c.equivalents_hint() == "Filled in when the sweep ends."
    assert c.saved_sweep() is None and not c.can_export  # nothing to save or export mid-sweep
    one.release()
    # "one" done, "two" held at its warm-up: one's figures are final, two has none yet
    two.hold()
    drain_until(c, lambda: ("one", "original") in c._measured)
    [row] = c.sustained_rows()
    assert row[0] == "one" and row[3] != MEASURING
    two.release()
    drain_until(c, lambda: not c.running)
    assert all(r[3] != MEASURING for r in c.sustained_rows())


def test_cancel_ends_cancelled_and_keeps_what_was_measured(sweeps):
    c = sweeps
    quick(c, levels="1,2,4,8")
    assert c.start() is None
    drain_until(c, lambda: len(c.result.levels) >= 1)
    c.servers[0].hold()
    c.cancel()
    assert c.status == "cancelling…"
    c.servers[0].release()  # the held requests end: the sweep needs not wait to drain them
    drain_until(c, lambda: not c.running)
    assert c.finished.outcome is Outcome.CANCELLED and c.status == "cancelled"
    assert 1 <= len(c.result.levels) < 4 and c.result.cancelled and c.unsaved


def test_a_sweep_that_cannot_measure_anything_ends_failed_and_says_why(sweeps):
    c = sweeps
    for server in c.servers:
        server.reachable = False
    quick(c)
    assert c.start() is None
    drain_until(c, lambda: not c.running)
    assert c.finished.outcome is Outcome.FAILED and "backend one: not measured" in c.status
    assert any("backend two: not measured" in note for note in c.notes())  # each one's reason
    assert c.result.levels == [] and not c.unsaved and not c.can_export


def test_a_session_opened_during_a_sweep_is_never_drawn_over(sweeps):
    c = sweeps
    quick(c, levels="1,2,4")
    assert c.start() is None
    drain_until(c, lambda: len(c.result.levels) >= 1)
    generation = c.generation
    saved = CapacityResult(plan=LoadPlan(levels=(8,)).to_dict(), backends=[], variants={})
    c.load(saved)  # the older sweep is cancelled; its late events are dropped
    assert c.generation == generation + 1 and not c.running and c.result is saved
    assert c.wait(10)
    c.drain()
    assert c.result is saved and c.finished is None and c.fields.levels == "8"


def test_refusals_say_why(sweeps, fake_servers):
    c = sweeps
    c.set_fields(levels="1,x")
    assert "numbers separated by commas" in c.start()
    c.set_fields(levels="1", variants="huge-jpeg")
    assert "bad variant" in c.start()
    c.set_fields(variants="original", agents=3)
    assert "at least 3" in c.start()  # levels the agents cannot split
    c.set_fields(agents=0)
    c.busy["reason"] = "A comparison is running"
    assert c.start() == "A comparison is running"
    c.busy["reason"] = None
    empty = CapacityController(lambda: [], lambda: [])
    assert "Add images first" in empty.start()
    no_backend = CapacityController(lambda: [], lambda: ["x.jpg"])
    assert "Add a backend first" in no_backend.start()
    assert not c.running and c.generation == 0


def test_a_new_mode_brings_its_default_levels(sweeps):
    c = sweeps
    c.set_fields(mode="rate")
    assert c.fields.levels == "10,20,50,100"
    c.set_fields(mode="concurrency")
    assert c.fields.levels == "1,2,4,8,16,32"


def test_the_default_levels_on_agents_leave_out_those_they_cannot_split(sweeps, monkeypatch):
    """What Start hands the pipeline for load agents (the sweep itself needs a cluster: the
    slow tier's test_gui_capacity_cluster runs one)."""
    from tfcompare.load import pipeline

    jobs = []

    def record(job, **_kwargs):
        jobs.append(job)
        return CapacityResult(plan=job.plan.to_dict(), backends=[], variants={})

    monkeypatch.setattr(pipeline, "run_sweep", record)
    c = sweeps
    c.set_fields(agents=2)
    assert c.start() is None
    drain_until(c, lambda: not c.running)
    [job] = jobs
    assert job.plan.levels == (2, 4, 8, 16, 32) and c.fields.levels == "2,4,8,16,32"
    assert job.in_cluster.agents == 2 and job.notes == (
        "concurrency 1 left out of the default levels: with 2 agents each level "
        "needs at least 2 requests in flight (one per agent)",
    )


def test_the_table_title_says_which_limit_it_shows(sweeps):
    c = sweeps
    assert c.table_title() == ("Sustained req/s at p99 ≤ 100 ms", "")  # the field, no sweep yet
    c.set_fields(limit_ms=None)
    assert c.table_title() == ("Highest stable req/s", "(no latency limit)")
    c.load(CapacityResult(plan=LoadPlan(latency_limit_ms=50).to_dict(), backends=[], variants={}))
    assert c.table_title() == ("Sustained req/s at p99 ≤ 50 ms", "")
    c.set_fields(limit_ms=200)
    assert c.table_title() == ("Sustained req/s at p99 ≤ 50 ms", "the next sweep: 200 ms")


# ---------------------------------------------------------------------- with the window controller


@pytest.fixture
def window(fake_servers, photos):
    c = WindowController(settings=RunSettings(concurrent=False), status_every_s=3600)
    c.set_backends([fake_servers.add("one")[1], fake_servers.add("two")[1]])
    c.add_paths(photos)
    quick(c.capacity, levels="1")
    yield c
    c.close()


def test_a_finished_sweep_is_unsaved_until_saved_and_a_new_session_drops_it(window, tmp_path):
    from tfcompare.session import load_session

    c = window
    heard = Heard(c.events)
    assert c.capacity.start() is None
    assert "capacity sweep is running" in c.start_run()  # both would load the same backends
    drain_until(c, lambda: not c.capacity.running)
    assert c.unsaved and "session" in heard.names()  # the title gets its "*"
    assert c.has_something_to_save
    path = tmp_path / "sweep.tfcs"
    c.save_session(path)
    assert not c.unsaved
    saved = load_session(path)
    assert saved.capacity and saved.result.settings.concurrent is False  # "take turns", as shown
    assert c.capacity.start() is None
    drain_until(c, lambda: not c.capacity.running)
    assert c.unsaved
    c.new_session()
    assert c.capacity.result is None and not c.unsaved and not c.has_something_to_save
    assert c.capacity.curves() == [] and c.capacity.sustained_rows() == []


def test_a_session_cannot_be_swapped_under_a_running_sweep(window, tmp_path):
    from tfcompare.session import SessionError

    c = window
    c.capacity.set_fields(levels="1,2,4,8")
    assert c.capacity.start() is None
    c.new_session()
    assert c.images and c.message.warning and "capacity sweep" in c.message.text
    with pytest.raises(SessionError, match="capacity sweep"):
        c.open_session(tmp_path / "any.tfcs")
    c.capacity.cancel()
    drain_until(c, lambda: not c.capacity.running)


def test_images_from_a_reopened_session_keep_their_names_in_the_sweep(
    window, fake_servers, tmp_path
):
    """A session's images are bytes in memory: the sweep still calls them by their names, in
    its notes and in the next session file saved."""
    from gui_helpers import synthetic_session

    from tfcompare.session import load_session

    c = window
    c.open_session(synthetic_session(tmp_path / "s.tfcs", sizes=((320, 240), (200, 150))))
    assert [e.name for e in c.images] == ["cat.jpg", "dog.jpg"] and not c.images[0].path
    c.set_backends([fake_servers.add("gpu")[1]])
    c.capacity.set_fields(variants="256-jpeg")
    assert c.capacity.start() is None
    drain_until(c, lambda: not c.capacity.running)
    note = "dog.jpg: no 256-jpeg variant (the image is smaller; never upscaled)"
    assert note in c.capacity.notes()
    assert not any("pasted" in n for n in c.capacity.notes())
    c.save_session(tmp_path / "again.tfcs")
    assert note in load_session(tmp_path / "again.tfcs").capacity["messages"]
