"""The comparison engine end to end on the in-memory transport (tests/fake_transport.py): the real
runner — images, variant ladder, request plan, warm-up, repeats, events, statistics — with only
the last hop in memory. Progress up to the plan's total, cancelling, a backend that goes down and
comes back, a model that is not there, backends taking turns, and no server time where a backend
exports none. The same run on real local backends is test_runner.py's (end-to-end tier)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from images import photo, save

from tfcompare.runner import Runner
from tfcompare.runner.events import (
    BackendReady,
    ImageReady,
    Progress,
    RequestDone,
    RunFinished,
    RunStarted,
    ServerTimeMeasured,
)
from tfcompare.runner.run_formats import summary_table
from tfcompare.settings import RunSettings

SMALL = RunSettings(sizes=(256, 128), formats=("jpeg", "png"), warmup=1, repeats=2, timeout_s=5)
N_VARIANTS = 1 + 2 * 2  # the original, and two sizes in two formats (both photos are larger)


class Recorder:
    """Every event of a run, in the order the runner emitted them (from its worker threads)."""

    def __init__(self, then=None) -> None:
        self.events: list = []
        self.lock = threading.Lock()
        self.then = then  # called with each event after it is recorded

    def __call__(self, event) -> None:
        with self.lock:
            self.events.append(event)
        if self.then is not None:
            self.then(event)

    def of(self, kind) -> list:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    return [save(photo("chelsea"), folder / "cat.jpg"), save(photo("coffee"), folder / "cup.png")]


def test_a_run_measures_every_planned_request_and_its_progress_reaches_the_total(
    fake_servers, photos
):
    one, a = fake_servers.add("one")
    two, b = fake_servers.add("two", latency_s=0.004)
    rec = Recorder()
    result = Runner([a, b], SMALL).run(photos, on_event=rec, run_id=7)

    assert isinstance(rec.events[0], RunStarted) and isinstance(rec.events[-1], RunFinished)
    assert all(e.run_id == 7 for e in rec.events) and not rec.events[-1].cancelled
    assert [e.image.name for e in rec.of(ImageReady)] == ["cat.jpg", "cup.png"]
    assert {e.backend: e.message for e in rec.of(BackendReady)} == {"one": "", "two": ""}
    counts = Counter((r.backend, r.image) for r in result.measured)
    assert counts == {(s, i): N_VARIANTS * SMALL.repeats for s in "one two".split() for i in
                      ("cat.jpg", "cup.png")}  # fmt: off
    assert Counter(r.backend for r in result.cold) == {"one": 1, "two": 1}
    assert all(r.ok and len(r.top5) == 5 and r.top5[0].label == "tabby" for r in result.measured)
    # progress: never backwards, never past its total, and it ends at the total; every request
    # it counted reached a server (warm-up ones too, which the result does not keep)
    progress = rec.of(Progress)
    done = [p.done for p in progress]
    assert done == sorted(done) and all(p.done <= p.total for p in progress)
    assert progress[-1].done == progress[-1].total == one.received + two.received
    assert len(rec.of(RequestDone)) == len(result.requests)
    # statistics: one aggregate per image × variant × backend, over the measured repeats
    assert len(result.summary) == 2 * N_VARIANTS * 2
    assert all(agg.n == SMALL.repeats and agg.n_errors == 0 for agg in result.summary)
    originals = [agg for agg in result.summary if agg.variant == "original"]
    assert all(
        agg.top1_agree is True and agg.score_ratio == pytest.approx(1.0) for agg in originals
    )


def test_cancel_ends_the_run_with_what_was_measured(fake_servers, photos):
    _, a = fake_servers.add("one")
    _, b = fake_servers.add("two")
    cancel = threading.Event()

    def stop_after_three(event) -> None:
        if isinstance(event, RequestDone) and len(rec.of(RequestDone)) >= 3:
            cancel.set()

    rec = Recorder(stop_after_three)
    settings = RunSettings(sizes=(256, 128), formats=("jpeg",), warmup=0, repeats=50)
    result = Runner([a, b], settings).run(photos, on_event=rec, cancel=cancel)
    finished = rec.of(RunFinished)
    assert len(finished) == 1 and finished[0].cancelled and rec.events[-1] is finished[0]
    planned = 2 * 2 * 3 * 51  # backends × images × variants × (cold + repeats)
    assert 3 <= len(result.requests) < planned / 10  # stopped soon after the cancel
    assert len(rec.of(RequestDone)) == len(result.requests)  # nothing after the end


def test_a_backend_that_goes_down_and_comes_back_is_measured_again(
    fake_servers, photos, monkeypatch
):
    """Two refused requests in a row and a backend is down: the rest of that variant is not sent
    (no waiting on a dead server) and the others go on; at the next variant it is asked again
    and, back, measured again. The runner asks every PROBE_EVERY_S; here at once."""
    from tfcompare.runner import comparison_engine

    monkeypatch.setattr(comparison_engine, "PROBE_EVERY_S", 0.0)
    _, steady = fake_servers.add("steady")
    flaky, spec = fake_servers.add("flaky")
    answered = Counter()

    def outage(event) -> None:
        if isinstance(event, RequestDone) and event.result.backend == "flaky":
            answered[event.result.ok] += 1
            if answered[True] == 3 and not answered[False]:
                flaky.reachable = False  # down after the cold request and two measured ones
        elif isinstance(event, BackendReady) and "stopped answering" in event.message:
            flaky.reachable = True  # back before the runner asks again

    rec = Recorder(outage)
    settings = RunSettings(sizes=(256, 128), formats=("jpeg",), warmup=0, repeats=5)
    result = Runner([steady, spec], settings).run(photos[:1], on_event=rec)

    mine = {(r.variant, r.phase, r.repeat): r for r in result.requests if r.backend == "flaky"}
    original = [mine[("original", "measured", i)] for i in range(5)]
    assert mine[("original", "cold", 0)].ok and [r.ok for r in original[:2]] == [True, True]
    refused, not_sent = original[2:4], original[4]
    assert all(r.error.startswith("UNAVAILABLE") and "refused" in r.error for r in refused)
    assert not_sent.error.startswith("not sent: backend stopped answering (UNAVAILABLE")
    back = [r for (variant, _, _), r in mine.items() if variant != "original"]
    assert len(back) == 2 * 5 and all(r.ok for r in back)  # measured again, every request
    said = [e.message for e in rec.of(BackendReady) if e.backend == "flaky"]
    assert said[0] == "" and "stopped answering" in said[1] and said[-1] == ""
    assert all(r.ok for r in result.requests if r.backend == "steady")
    errors = {a.variant: a.n_errors for a in result.summary if a.backend == "flaky"}
    assert errors == {"original": 3, "256-jpeg": 0, "128-jpeg": 0}
    assert "flaky: 3 request(s) failed" in summary_table(result)


def test_a_model_the_backend_does_not_serve_is_said_and_the_others_are_measured(
    fake_servers, photos
):
    _, good = fake_servers.add("good")
    _, other = fake_servers.add("other", model="resnet")
    wrong = other.__class__("wrong", other.target, protocol="fake", model="tiny")
    rec = Recorder()
    result = Runner([good, wrong], SMALL).run(photos[:1], on_event=rec)
    ready = {e.backend: e.message for e in rec.of(BackendReady)}
    assert ready["good"] == "" and "NOT_FOUND" in ready["wrong"] and "tiny" in ready["wrong"]
    assert all(not r.ok for r in result.measured if r.backend == "wrong")
    assert all(r.ok for r in result.measured if r.backend == "good")


def test_backends_one_at_a_time_never_overlap(fake_servers, photos):
    """With concurrent=False no two backends have a request in flight at the same time."""
    servers = [fake_servers.add(name, latency_s=0.003) for name in ("one", "two", "three")]
    in_flight: list[int] = []
    busy = Counter()
    lock = threading.Lock()
    for server, _ in servers:
        serve = server.serve

        def counted(serve=serve) -> None:
            with lock:
                busy["now"] += 1
                in_flight.append(busy["now"])
            try:
                serve()
            finally:
                with lock:
                    busy["now"] -= 1

        server.serve = counted
    settings = RunSettings(sizes=(128,), formats=("jpeg",), warmup=1, repeats=3, concurrent=False)
    result = Runner([spec for _, spec in servers], settings).run(photos)
    assert in_flight and max(in_flight) == 1  # never two at once
    assert all(r.ok for r in result.requests) and len(result.measured) == 3 * 2 * 2 * 3


def test_a_backend_without_server_metrics_has_no_server_time_rather_than_zero(fake_servers, photos):
    _, a = fake_servers.add("one")
    rec = Recorder()
    result = Runner([a], SMALL).run(photos[:1], on_event=rec)
    assert rec.of(ServerTimeMeasured) == [] and result.server_times == ()
    assert all(agg.server_ms is None for agg in result.summary)  # absent, never 0 ms
    assert all(agg.p50_ms is not None and agg.p50_ms > 0 for agg in result.summary)
