"""The window's controller without Qt: each operation the window offers, driven directly (plain
pytest), with real image files, real session files, the real runner and status checks; backends
are the in-memory ones of tests/fake_transport.py (fast tier: no subprocess). The same operations
against real local backends are the window tests' (test_gui_*)."""

from __future__ import annotations

import sys
import time

import pytest
from gui_helpers import small_photos

from tfcompare.results import RequestResult
from tfcompare.runner.events import RequestDone
from tfcompare.runner.probe import BackendState
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings, SettingsError
from tfcompare.window import Outcome, WindowController

SETTINGS = RunSettings(sizes=(128,), formats=("jpeg", "png"), warmup=0, repeats=2)


def wait(controller: WindowController, until, timeout: float = 60.0) -> None:
    """Apply background work (as the window's timer does) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        controller.drain()
        time.sleep(0.02)


@pytest.fixture
def controller():
    c = WindowController(settings=SETTINGS, status_every_s=3600)
    c.topics: list[str] = []  # the names of the signals emitted, in order
    c.events.all.connect(lambda info: c.topics.append(info.signal.name))
    yield c
    c.close()


def specs(fake_servers) -> list[BackendSpec]:
    return [fake_servers.add("one")[1], fake_servers.add("two", latency_s=0.004)[1]]


@pytest.fixture
def ran(controller, fake_servers, tmp_path):
    """A finished run of two photos on both backends."""
    controller.set_backends(specs(fake_servers))
    controller.add_paths(small_photos(tmp_path / "img"))
    assert controller.start_run() is None
    wait(controller, lambda: not controller.running)
    assert controller.finished.outcome is Outcome.FINISHED
    controller.store.refresh()  # what the window's timer does: the figures are brought up to date
    return controller


def test_images_get_final_names_and_are_looked_at(controller, tmp_path):
    a = small_photos(tmp_path / "a", names=("chelsea",))[0]
    b = small_photos(tmp_path / "b", names=("chelsea",))[0]
    assert controller.add_paths([a, b, a]) == 2  # a path already listed is not added again
    pasted = controller.add_bytes(a.read_bytes())
    assert [e.name for e in controller.images] == ["chelsea.jpg", "chelsea (2).jpg", pasted]
    assert pasted == "pasted image 1.png"
    assert controller.images[1].source == ("chelsea (2).jpg", str(b))  # the runner gets this name
    wait(controller, lambda: all(e.probed for e in controller.images))
    first = controller.images[0]
    assert first.format == "jpeg" and max(first.width, first.height) == 300 and first.thumb
    assert "images" in controller.topics


def test_a_bad_file_gets_its_own_error(controller, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello")
    controller.add_paths([bad])
    wait(controller, lambda: controller.images[0].probed)
    assert controller.images[0].error and controller.planned_requests() == 0


def test_settings_problems_stop_a_run_and_say_why(controller, tmp_path):
    controller.add_paths(small_photos(tmp_path))
    controller.set_backends([BackendSpec("x", "127.0.0.1:9")])
    try:
        RunSettings(sizes=(2,))
    except SettingsError as exc:
        controller.set_settings(exc)
    assert "bad size 2" in controller.start_run() and not controller.running
    controller.set_settings(SETTINGS)
    assert controller.settings_error is None and "settings" in controller.topics


def test_run_needs_images_and_backends(controller, tmp_path):
    assert "Add images first" in controller.start_run()
    controller.add_paths(small_photos(tmp_path))
    assert "Add a backend first" in controller.start_run()


def test_request_plan_follows_images_backends_and_settings(controller, tmp_path):
    controller.add_paths(small_photos(tmp_path, longest=100))  # smaller than the 128 px box
    controller.set_backends([BackendSpec("x", "127.0.0.1:9"), BackendSpec("y", "127.0.0.1:8")])
    unknown = controller.planned_requests()
    assert unknown == 2 * (2 * 3 * 2 + 1)  # sizes unknown yet: every box counted
    wait(controller, lambda: all(e.probed for e in controller.images))
    assert controller.planned_requests() == 2 * (2 * 1 * 2 + 1)  # the 128 px box is skipped


def test_a_run_fills_the_results_and_the_backend_notes(ran):
    c = ran
    result = c.store.snapshot()
    assert {r.backend for r in result.measured} == {"one", "two"}
    assert c.status_of("one")[0] is BackendState.OK and "AVAILABLE" in c.status_of("one")[1]
    assert all(e.variants == 3 for e in c.images)
    assert c.unsaved and c.store.progress.done == c.store.progress.total
    cells = c.store.cells()
    assert cells[("128-jpeg", "one")].images == 2 and cells[("128-jpeg", "one")].n == 4


def test_events_of_a_stale_run_are_dropped(ran):
    c = ran
    old = RequestResult(
        "chelsea.jpg", "original", "one", "grpc", "measured", 0, True, 1.0, 0.1, 10, 1, None
    )
    before = c.store.n_results
    c.deliver(RequestDone(c.run_id - 1, old))  # an older run
    c.deliver(RequestDone(c.run_id, old))  # this run, but it has finished
    assert c.dropped_events == 2 and c.store.n_results == before


def test_cancel_stops_a_run(controller, fake_servers, tmp_path):
    controller.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=1000))
    controller.set_backends(specs(fake_servers)[:1])
    controller.add_paths(small_photos(tmp_path))
    assert controller.start_run() is None
    wait(controller, lambda: controller.store.n_results > 5)
    controller.cancel_run()
    wait(controller, lambda: not controller.running, timeout=10)
    assert controller.finished.outcome is Outcome.CANCELLED
    assert "Cancelled" in controller.finished.message


def test_removing_an_image_drops_its_results_and_undo_brings_them_back(ran):
    c = ran
    name = c.images[0].name
    c.select(name, "original")
    assert c.remove_images([name]) == 1
    assert [e.name for e in c.images] == [c.images[0].name] and name not in c.store.images
    assert all(r.image != name for r in c.store.snapshot().requests)
    assert c.selection[0] is None and c.message.undo
    assert c.undo()
    assert name in [e.name for e in c.images] and name in c.store.images
    assert any(r.image == name for r in c.store.snapshot().requests)


def test_remove_all_images_empties_every_view(ran):
    c = ran
    c.clear_images()
    assert not c.images and not c.store.images and not c.store.aggregates()
    assert not c.store.cells()


def test_a_removed_backend_leaves_the_results_and_the_saved_session(ran, tmp_path):
    from tfcompare.session import load_session

    c = ran
    c.save_session(tmp_path / "before.tfcs")
    c.remove_backend("two")
    assert c.unsaved  # the shown comparison no longer matches the file
    assert [s.name for s in c.backends] == ["one"] and "two" not in c.store.backend_names
    assert all(k[1] != "two" for k in c.store.cells())
    c.save_session(tmp_path / "s.tfcs")
    saved = load_session(tmp_path / "s.tfcs").result
    assert [b.name for b in saved.backends] == ["one"]
    assert {r.backend for r in saved.requests} == {"one"}
    c.undo()
    assert [s.name for s in c.backends] == ["one", "two"] and "two" in c.store.backend_names


def test_editing_a_backend_forgets_what_its_old_address_said(ran):
    c = ran
    assert c.status_of("one")[0] is BackendState.OK
    c.replace_backend("one", BackendSpec("one", "127.0.0.1:9", model="tiny", timeout_s=2))
    assert c.status_of("one") == (BackendState.CHECKING, "checking…")
    wait(c, lambda: "one" in c.statuses)
    assert c.status_of("one")[0] is BackendState.ERROR


def test_refresh_status_replaces_what_the_run_found(ran):
    c = ran
    c.run_notes["one"] = (BackendState.ERROR, "old finding")
    c.refresh_status()
    assert "one" not in c.run_notes
    wait(c, lambda: c.statuses.get("one") is not None)
    assert c.status_of("one")[0] is BackendState.OK


def test_save_new_and_open_session(ran, tmp_path):
    c = ran
    c.select(c.images[1].name, "128-png")
    path = tmp_path / "a.tfcs"
    c.save_session(path, {"log_scale": True})
    assert not c.unsaved and c.path == path
    before = (c.store.snapshot().summary, [e.name for e in c.images], c.backends)
    c.new_session()
    assert not c.images and not c.store.has_results() and c.path is None and not c.unsaved
    c.open_session(path)
    assert (c.store.snapshot().summary, [e.name for e in c.images], c.backends) == before
    assert c.selection == (before[1][1], "128-png") and c.view_options == {"log_scale": True}


def test_opening_a_bad_file_changes_nothing(ran, tmp_path):
    from tfcompare.session import SessionError

    c = ran
    bad = tmp_path / "bad.tfcs"
    bad.write_text("nope")
    images = list(c.images)
    with pytest.raises(SessionError):
        c.open_session(bad)
    assert c.images == images and c.store.has_results()


def test_compare_overlay_and_exports(ran, tmp_path):
    c = ran
    c.save_session(tmp_path / "before.tfcs")
    c.compare_with(tmp_path / "before.tfcs")
    assert c.overlay.label == "before"
    assert (
        c.overlay.cells[("original", "one")].p50_ms == c.store.cells()[("original", "one")].p50_ms
    )
    c.clear_compare()
    assert c.overlay is None and c.topics.count("overlay") == 2
    c.export_results("csv", tmp_path / "r.csv")
    c.export_results("json", tmp_path / "r.json")
    assert (tmp_path / "r.csv").read_text().startswith("image,")
    assert '"format": "tfcompare-run/1"' in (tmp_path / "r.json").read_text()


def test_selection_notifies_once_per_change(controller):
    controller.select("a.jpg", "original")
    controller.select("a.jpg", "original")
    assert controller.topics.count("selection") == 1 and controller.selection == (
        "a.jpg",
        "original",
    )


def test_removal_is_refused_while_running(controller, fake_servers, tmp_path):
    controller.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=1000))
    controller.set_backends(specs(fake_servers)[:1])
    controller.add_paths(small_photos(tmp_path))
    controller.start_run()
    assert controller.remove_images([controller.images[0].name]) == 0
    assert controller.message.warning and "Cancel" in controller.message.text
    controller.cancel_run()
    wait(controller, lambda: not controller.running, timeout=10)


@pytest.mark.slow  # a fresh interpreter
def test_controller_does_not_import_qt():
    import subprocess

    code = (
        "import sys; import tfcompare.window as w; w.WindowController().close(); "
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_failed_requests_are_counted_alike_in_window_table_report_and_cli(
    controller, fake_servers, tmp_path
):
    """A backend that is down fails every request, the cold first one too (no warm-up). The
    window's finished line, the table's cells, the run's summary table, the exports and the
    report count the same failed requests: the measured ones; the cold one is said apart."""
    import json
    import socket

    from tfcompare.report import build_report
    from tfcompare.runner.run_formats import summary_table, to_json_obj

    with socket.socket() as s:  # a port nothing listens on once it is closed
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    controller.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=2))
    controller.set_backends(
        [
            fake_servers.add("one")[1],
            BackendSpec.parse(f"down={dead}/tiny"),  # real gRPC to a closed port
        ]
    )
    controller.add_paths(small_photos(tmp_path / "img"))
    assert controller.start_run() is None
    wait(controller, lambda: not controller.running)
    controller.store.refresh()
    result = controller.store.snapshot()
    cold = [r for r in result.cold if r.backend == "down"]
    assert cold and not cold[0].ok  # the cold request failed too, and is not one of the measured
    n = sum(1 for r in result.measured if r.backend == "down")
    assert n == 2 * 2 * 2  # 2 photos × (original, 128 jpeg) × 2 repeats
    assert f"({n:,} failed" in controller.finished.message
    assert controller.status_of("down")[1].endswith(f"({n:,} failed)") or (
        f"{n:,} failed" in controller.status_of("down")[1]
    )
    assert sum(p.n_errors for (_, b), p in controller.store.cells().items() if b == "down") == n
    assert sum(a.n_errors for a in controller.store.aggregates() if a.backend == "down") == n
    assert f"down: {n} request(s) failed" in summary_table(result)
    doc = json.loads(json.dumps(to_json_obj(result)))
    assert sum(a["n_errors"] for a in doc["summary"] if a["backend"] == "down") == n
    caveats = " ".join(build_report(result).caveats)
    assert f"down: {n} request(s) failed" in caveats
    assert "down: the first (cold) request failed" in caveats
