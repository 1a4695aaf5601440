"""The runner end to end: real local backends over gRPC/REST, real images, bad inputs and faults."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from images import animated_gif, bad_inputs, exif_rotated_jpeg, noisy_png, photo, save
from PIL import Image

from tfcompare.runner import Runner
from tfcompare.runner.events import (
    BackendReady,
    ImageFailed,
    ImageReady,
    Progress,
    RequestDone,
    RunFinished,
    RunStarted,
)
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow

SMALL = RunSettings(sizes=(256, 128), formats=("jpeg", "png"), warmup=1, repeats=2, timeout_s=20)


def grpc(name, backend, **kw):
    return BackendSpec(name=name, target=backend.grpc, model="tiny", **kw)


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def cat(tmp_path_factory) -> Path:
    return save(photo("chelsea"), tmp_path_factory.mktemp("img") / "cat.jpg")


def test_two_backends_every_variant_measured(backend_pair, cat, tmp_path):
    coffee = save(photo("coffee"), tmp_path / "coffee.png")
    rec = Recorder()
    runner = Runner([grpc("one", backend_pair.one), grpc("two", backend_pair.two)], SMALL)
    result = runner.run([cat, coffee], on_event=rec, run_id=7)

    assert isinstance(rec.events[0], RunStarted) and isinstance(rec.events[-1], RunFinished)
    assert all(e.run_id == 7 for e in rec.events)
    assert not rec.events[-1].cancelled
    assert [i.name for i in result.images] == ["cat.jpg", "coffee.png"]
    n_variants = 1 + 2 * 2
    counts = Counter((r.backend, r.image) for r in result.measured)
    for backend in ("one", "two"):
        for image in ("cat.jpg", "coffee.png"):
            assert counts[(backend, image)] == n_variants * SMALL.repeats
    assert all(r.ok and r.model_version == 1 and len(r.top5) == 5 for r in result.measured)
    assert all(r.latency_ms > 0 and r.client_ms >= 0 and r.bytes > 0 for r in result.measured)
    # one cold request per backend, kept apart from the statistics
    assert Counter(r.backend for r in result.cold) == {"one": 1, "two": 1}
    assert {(r.image, r.variant) for r in result.cold} == {("cat.jpg", "original")}
    # aggregates: one per image × variant × backend, quality against the same backend's original
    assert len(result.summary) == 2 * 2 * n_variants
    for agg in result.summary:
        assert agg.n == SMALL.repeats and agg.n_errors == 0 and agg.p50_ms is not None
        if agg.variant == "original":
            assert agg.top1_agree is True and agg.score_ratio == pytest.approx(1.0)
    # the same deterministic model on both backends gives the same answers
    answers = {(a.image, a.variant, a.backend): a.top1 for a in result.summary}
    for (image, variant, backend), top1 in answers.items():
        assert answers[(image, variant, "two" if backend == "one" else "one")] == top1
    # events: every measured/cold request streamed, progress reaches the total
    assert len(rec.of(RequestDone)) == len(result.requests)
    last = rec.of(Progress)[-1]
    assert last.done == last.total == 2 * 2 * n_variants * (SMALL.warmup + SMALL.repeats)
    ready = {e.backend: e for e in rec.of(BackendReady)}
    assert ready["one"].signature.input_key == "images" and ready["one"].status.available


def test_rest_and_grpc_on_one_deployment(backend_pair, cat):
    two = backend_pair.two
    specs = [
        grpc("grpc", two),
        BackendSpec(name="rest", target=two.rest, protocol="rest", model="tiny"),
    ]
    result = Runner(specs, RunSettings(sizes=(128,), formats=("jpeg",), repeats=2)).run([cat])
    assert all(r.ok for r in result.measured)
    by = {(a.variant, a.backend): a for a in result.summary}
    assert by[("128-jpeg", "rest")].top1 == by[("128-jpeg", "grpc")].top1
    assert {r.protocol for r in result.measured} == {"grpc", "rest"}


def test_bad_images_are_per_image_errors(backend_pair, tmp_path):
    bad = bad_inputs(tmp_path / "bad")
    upright = photo("chelsea").resize((300, 200))
    good = {
        "cmyk.jpg": save(upright.convert("CMYK"), tmp_path / "cmyk.jpg"),
        "16bit.png": save(
            Image.fromarray(np.asarray(upright.convert("L")).astype(np.uint16) * 257),
            tmp_path / "16bit.png",
        ),
        "palette.png": _palette_with_transparency(tmp_path / "palette.png"),
        "animated.gif": animated_gif(tmp_path / "animated.gif"),
        "rotated.jpg": exif_rotated_jpeg(tmp_path / "rotated.jpg", upright, orientation=6),
        "pixel.png": save(Image.new("RGB", (1, 1), (200, 10, 10)), tmp_path / "pixel.png"),
    }
    rec = Recorder()
    sources = [*bad.values(), *good.values()]
    result = Runner(
        [grpc("one", backend_pair.one)], RunSettings(sizes=(128,), formats=("jpeg",), repeats=1)
    ).run(sources, on_event=rec)
    failed = {e.problem.image: e.problem.message for e in rec.of(ImageFailed)}
    assert set(failed) == set(bad)
    assert all(len(m) > 10 for m in failed.values())
    assert "decompression" in failed["bomb.png"].lower() or "pixels" in failed["bomb.png"].lower()
    assert {p.image for p in result.problems} == set(bad)
    measured = {r.image for r in result.measured if r.ok}
    assert measured == set(good)
    pixel = next(i for i in result.images if i.name == "pixel.png")
    assert [v.key for v in pixel.variants] == [
        "original"
    ] and pixel.notes  # never upscaled, and said so
    rotated = next(i for i in result.images if i.name == "rotated.jpg")
    with Image.open(good["rotated.jpg"]) as raw:
        assert raw.size == (200, 300)  # stored sideways, as a phone does
    assert (rotated.width, rotated.height) == (300, 200)  # EXIF orientation applied: upright


def _palette_with_transparency(path: Path) -> Path:
    img = photo("chelsea").resize((120, 80)).convert("P", palette=Image.Palette.ADAPTIVE)
    img.info["transparency"] = 0
    img.save(path, transparency=0)
    return path


def test_backend_killed_mid_run_others_complete(backend_pair, fresh_backend, cat):
    victim = fresh_backend(threads=1)
    rec = Recorder()
    killed = threading.Event()

    def on_event(event):
        rec(event)
        if (
            isinstance(event, RequestDone)
            and event.result.backend == "victim"
            and not killed.is_set()
        ):
            if sum(1 for e in rec.of(RequestDone) if e.result.backend == "victim") >= 3:
                killed.set()
                victim.kill()

    settings = RunSettings(sizes=(512, 256, 128), formats=("jpeg", "png"), repeats=2, timeout_s=5)
    result = Runner([grpc("victim", victim), grpc("one", backend_pair.one)], settings).run(
        [cat], on_event=on_event
    )
    assert killed.is_set()
    mine = [r for r in result.measured if r.backend == "one"]
    n_variants = len(result.images[0].variants)  # 451×300: the 512 box is skipped, never upscaled
    assert n_variants == 5
    assert len(mine) == n_variants * 2 and all(r.ok for r in mine)
    victim_results = [r for r in result.measured if r.backend == "victim"]
    assert len(victim_results) == n_variants * 2  # every planned request is accounted for
    errors = [r for r in victim_results if not r.ok]
    assert errors and all(r.error for r in errors)
    assert any("UNAVAILABLE" in r.error for r in errors)
    assert any(not e.message == "" for e in rec.of(BackendReady) if e.backend == "victim")


def test_hanging_backend_hits_deadline_others_unaffected(backend_pair, fresh_backend, cat):
    hung = fresh_backend(threads=1)
    hung.pause()
    try:
        settings = RunSettings(sizes=(128,), formats=("jpeg", "png"), repeats=3, timeout_s=1.0)
        result = Runner(
            [grpc("hung", hung, timeout_s=1.0), grpc("one", backend_pair.one)], settings
        ).run([cat])
    finally:
        hung.resume()
    ok = [r for r in result.measured if r.backend == "one"]
    assert len(ok) == 3 * 3 and all(r.ok for r in ok)
    hung_results = [r for r in result.measured if r.backend == "hung"]
    assert len(hung_results) == 9 and not any(r.ok for r in hung_results)
    # the backend was down from the start: status/metadata failed at the deadline, nothing waited
    # forever (the run returned), every request ended at its deadline or was not sent
    assert all("DEADLINE_EXCEEDED" in r.error or "not sent" in r.error for r in hung_results)


def test_unknown_model_and_signature(backend_pair, cat):
    one = backend_pair.one
    specs = [
        BackendSpec(name="nomodel", target=one.grpc, model="no-such-model"),
        BackendSpec(name="nosig", target=one.grpc, model="tiny", signature="no_such_signature"),
        grpc("good", one),
    ]
    rec = Recorder()
    result = Runner(specs, RunSettings(sizes=(128,), formats=("jpeg",), repeats=1)).run(
        [cat], on_event=rec
    )
    msgs = {e.backend: e.message for e in rec.of(BackendReady)}
    assert "NOT_FOUND" in msgs["nomodel"] and "no-such-model" in msgs["nomodel"]
    assert "no_such_signature" in msgs["nosig"]
    assert msgs["good"] == ""
    assert all(not r.ok for r in result.measured if r.backend in ("nomodel", "nosig"))
    assert all(r.ok for r in result.measured if r.backend == "good")


def test_nine_megabyte_png_goes_through(backend_pair, tmp_path):
    big = noisy_png(tmp_path / "noise.png", width=2048, height=1536)
    settings = RunSettings(sizes=(2048,), formats=("png",), warmup=0, repeats=1)
    result = Runner([grpc("one", backend_pair.one)], settings).run([big])
    variant = next(v for v in result.images[0].variants if v.key == "original")
    assert variant.nbytes > 8_000_000
    assert [v.key for v in result.images[0].variants] == ["original", "2048-png"]
    assert [r.ok for r in result.measured] == [True, True]
    assert all(r.bytes > 8_000_000 for r in result.measured)


def test_cancel_stops_promptly(backend_pair, cat):
    cancel = threading.Event()
    rec = Recorder()

    def on_event(event):
        rec(event)
        if isinstance(event, RequestDone) and len(rec.of(RequestDone)) >= 3:
            cancel.set()

    settings = RunSettings(repeats=20)
    result = Runner([grpc("one", backend_pair.one), grpc("two", backend_pair.two)], settings).run(
        [cat] * 5, on_event=on_event, cancel=cancel
    )
    finished = rec.of(RunFinished)
    assert len(finished) == 1 and finished[0].cancelled
    planned = 2 * 5 * 11 * 21
    assert len(result.requests) < planned / 10  # prompt: it stopped long before the end
    assert len(rec.of(ImageReady)) <= 5


def test_one_at_a_time_backends_take_turns(backend_pair, cat):
    """With concurrent=False no two backends have a request in flight at the same time."""
    settings = RunSettings(sizes=(256, 128), formats=("jpeg",), repeats=2, concurrent=False)
    specs = [grpc("one", backend_pair.one), grpc("two", backend_pair.two)]
    result = Runner(specs, settings).run([cat])
    spans = sorted(
        (r.started_at, r.started_at + r.latency_ms / 1000, r.backend, r.variant)
        for r in result.requests
    )
    assert len(result.measured) == 2 * 3 * 2 and all(r.ok for r in result.requests)
    # blocks of one (backend, variant) never interleave with the other backend's requests
    blocks = [(b, v) for _, _, b, v in spans]
    changes = sum(1 for x, y in zip(blocks, blocks[1:]) if x[0] != y[0])
    assert changes <= 2 * 3  # at most one switch per variant block (warm-ups are not in `requests`)
    for (_, e1, b1, _), (s2, _, b2, _) in zip(spans, spans[1:]):
        if b1 != b2:
            assert s2 >= e1 - 0.001
