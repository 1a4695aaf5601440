"""The pieces of knowledge that live in one place: pooled statistics, the request plan, the settings
limits, the ``k8s://`` and header syntax, and the backend probe. Each test checks that every user
of a piece gets the same answer from it."""

from __future__ import annotations

import dataclasses
import statistics
import threading

import pytest
from cli_inprocess import run_tfcompare
from hand_requests import CAT, req

from tfcompare.imaging.values import ImageProblem
from tfcompare.results import RunResult
from tfcompare.runner import Runner
from tfcompare.runner.aggregates import aggregate, pooled
from tfcompare.runner.compare import variant_stats
from tfcompare.runner.events import RunStarted
from tfcompare.runner.probe import probe_backend
from tfcompare.runner.request_plan import planned_requests
from tfcompare.runner.run_formats import summary_rows
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings, SettingsError, parse_sizes
from tfcompare.targets import TargetError, parse_header, parse_k8s

DOG = [("beagle", 0.5), ("basset", 0.2), ("tabby", 0.1), ("fox", 0.05), ("cup", 0.01)]


def _run() -> RunResult:
    """Two images on one backend: the 128 px variant agrees on one image and not on the other."""
    requests = []
    for image, resized, lat in (
        ("a.jpg", CAT, (10.0, 12.0, 11.0)),
        ("b.jpg", DOG, (30.0, 31.0, 29.0)),
    ):
        for i, ms in enumerate(lat):
            requests.append(req("original", ms, CAT, image=image, repeat=i))
            requests.append(req("128-jpeg", ms / 2, resized, image=image, repeat=i))
    requests.append(req("128-jpeg", 0, CAT, image="b.jpg", ok=False, repeat=3))
    return RunResult(
        settings=RunSettings(),
        backends=(BackendSpec("b", "h:1"),),
        images=(),
        problems=(),
        requests=tuple(requests),
        summary=aggregate(requests),
    )


def test_pooled_over_images_and_per_image():
    result = _run()
    cells = pooled(result.requests, result.summary)
    small = cells[("128-jpeg", "b")]
    assert small.n == 6 and small.n_errors == 1 and small.images == 2
    assert small.p50_ms == pytest.approx(statistics.median([5, 6, 5.5, 15, 15.5, 14.5]))
    assert small.top1_agree == 0.5  # one image of two keeps the original's top-1
    one = pooled(result.requests, result.summary, ["a.jpg"])[("128-jpeg", "b")]
    assert one.images == 1 and one.top1_agree == 1.0 and one.p50_ms == 5.5 and one.n_errors == 0


def test_report_and_compare_use_the_pooled_figures():
    result = _run()
    cells = pooled(result.requests, result.summary)
    rows = {(r["variant"], r["backend"]): r for r in summary_rows(result)}
    compared = variant_stats(result)
    for (variant, backend), p in cells.items():
        row = rows[(variant, backend)]
        assert (row["p50_ms"], row["p99_ms"], row["top1_agree"], row["n"], row["errors"]) == (
            p.p50_ms,
            p.p99_ms,
            p.top1_agree,
            p.n,
            p.n_errors,
        )
        assert compared[(backend, variant)] == p


def test_request_plan_is_the_runners_progress_total(tmp_path):
    """The preview's count (the plan) is what the runner announces and then counts down to."""
    from PIL import Image

    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.new("RGB", (600, 400), "red").save(big)
    Image.new("RGB", (200, 100), "blue").save(small)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    settings = RunSettings(sizes=(512, 128), formats=("jpeg", "png"), warmup=0, repeats=2)
    specs = [BackendSpec("x", "127.0.0.1:1"), BackendSpec("y", "127.0.0.1:2")]
    planned_unknown = planned_requests(settings, 2, [None, None, None])
    planned_known = planned_requests(settings, 2, [(600, 400), (200, 100)])
    assert planned_unknown == 2 * (3 * 5 * 2 + 1)
    assert planned_known == 2 * ((5 + 3) * 2 + 1)  # 512 px skipped for the small one, bad left out

    def refuse(spec):
        raise ConnectionError("nobody there")

    events = []
    runner = Runner(specs, settings, connect=refuse)
    result = runner.run(
        [big, small, tmp_path / "bad.png"], on_event=events.append, cancel=threading.Event()
    )
    started = next(e for e in events if isinstance(e, RunStarted))
    # the sizes are read from the files' headers before the first request: the bad file's is
    # unknown until its ladder fails
    assert started.total_requests == planned_requests(settings, 2, [(600, 400), (200, 100), None])
    assert events[-2].total == planned_known == events[-2].done  # every planned request accounted
    assert [p.image for p in result.problems] == ["bad.png"]
    assert isinstance(result.problems[0], ImageProblem)


def test_settings_check_themselves_with_one_message_per_problem():
    with pytest.raises(SettingsError) as err:
        RunSettings(sizes=(4096, 2), formats=("jpeg", "gif"), repeats=0, timeout_s=0)
    fields = [f for f, _, _ in err.value.problems]
    assert fields == ["sizes", "formats", "repeats", "timeout_s"]
    assert "bad size 2" in str(err.value) and "unknown format(s) gif" in str(err.value)
    assert err.value.message_for("repeats") == "repeats must be between 1 and 100000, not 0"
    ok = RunSettings(sizes=(128, 2048, 128), formats=("JPG", "png"))
    assert ok.sizes == (2048, 128) and ok.formats == ("jpeg", "png")
    assert parse_sizes("2048, 1024 512") == (2048, 1024, 512)
    with pytest.raises(SettingsError, match="whole numbers"):
        parse_sizes("1024, big")
    with pytest.raises(ValueError):  # a session with bad settings is refused the same way
        RunSettings.from_dict({"sizes": [0]})


def test_cli_shows_the_settings_messages_by_option(tmp_path):

    proc = run_tfcompare(
        "run",
        str(tmp_path),
        "--backend",
        "a=h:1",
        "--sizes",
        "4",
        "--timeout",
        "0",
        "--jpeg-quality",
        "101",
    )
    assert proc.returncode == 2
    for needle in (
        "--sizes must be whole numbers of pixels from 8",
        "--timeout must be between",
        "--jpeg-quality must be between 1 and 100, not 101",
    ):
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "text, contexts, expected",
    [
        ("k8s://tfs/svc/m:sig", None, ("tfs", "svc", None, None, "m", "sig")),
        ("k8s://prod/tfs/svc", {"prod"}, ("tfs", "svc", "prod", None, None, None)),
        ("k8s://prod/tfs/svc:8500/m", None, ("tfs", "svc", "prod", "8500", "m", None)),
    ],
)
def test_one_k8s_parser_for_specs_and_the_cluster(text, contexts, expected):
    from tfcompare.cluster import parse_target

    target, model, sig = parse_k8s(text, contexts=contexts, with_model=True)
    assert (target.namespace, target.service, target.context, target.port, model, sig) == expected
    spec = BackendSpec.parse(f"a={text}", contexts=contexts)
    assert parse_target(spec.target) == target  # the cluster reads the spec's target the same way


def test_one_header_syntax_everywhere():
    assert parse_header("Authorization: Bearer x:y") == ("authorization", "Bearer x:y")
    for bad in ("novalue", "two words: x", "x:", ": y"):
        with pytest.raises(TargetError, match="NAME:VALUE"):
            parse_header(bad)


def test_probe_backend_is_what_the_runner_and_window_report(fake_servers):
    _, good = fake_servers.add("g")
    status = probe_backend(good)
    assert status.ready and status.text == (
        "AVAILABLE · version 1 · signature serving_default · takes encoded bytes"
    )
    assert status.signature.input_key and "input" in status.detail
    missing = probe_backend(dataclasses.replace(good, model="nope"))
    assert missing.state == "error" and "NOT_FOUND" in missing.text
    down = probe_backend(BackendSpec("d", "127.0.0.1:9", timeout_s=2))
    assert down.state == "error" and down.text


def test_the_runner_uses_the_names_it_is_given(tmp_path):
    """The window names its images (a pasted one, two files called the same); the runner's results
    carry exactly those names."""
    from PIL import Image

    a, b = tmp_path / "a" / "same.png", tmp_path / "b" / "same.png"
    for path in (a, b):
        path.parent.mkdir()
        Image.new("RGB", (64, 48), "red").save(path)
    sources = [
        ("same.png", str(a)),
        ("same (2).png", str(b)),
        ("pasted image 1.png", a.read_bytes()),
    ]
    result = Runner(
        [BackendSpec("x", "127.0.0.1:1")],
        RunSettings(sizes=(32,), formats=("png",)),
        connect=lambda spec: (_ for _ in ()).throw(ConnectionError("no")),
    ).run(sources)
    assert [i.name for i in result.images] == ["same.png", "same (2).png", "pasted image 1.png"]
    assert {r.image for r in result.requests} == {"same.png", "same (2).png", "pasted image 1.png"}
