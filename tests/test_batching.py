"""Batching on the local backend (``tfcompare serve --batching-parameters``), seen through load.

The batch timeout makes the server's view of concurrency visible from outside: with
``max_batch_size`` 4 and a long ``batch_timeout_micros``, a batch runs at once only when 4 requests
are really in flight; with 3 in flight every batch waits for the timeout.
"""

from __future__ import annotations

import pytest
from images import photo, save

from tfcompare.load.load_plan import LoadPlan
from tfcompare.load.prepare import build_targets, variant_payloads
from tfcompare.load.sweep import sweep
from tfcompare.localserve.batching import (
    QUEUE_FULL,
    BatchingConfigError,
    BatchingOptions,
    parse_batching_parameters,
)
from tfcompare.serving.backend_spec import BackendSpec

WAIT_FOR_FOUR = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 400000 }
num_batch_threads { value: 1 }
"""
TINY_QUEUE = """
max_batch_size { value: 1 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 1 }
num_batch_threads { value: 1 }
"""


def test_batching_parameters_text_format():
    options = parse_batching_parameters(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 2000 }\n"
        "allowed_batch_sizes: 2\nallowed_batch_sizes: 8\npad_variable_length_inputs: true\n"
        'thread_pool_name { value: "pool" }',
        cores=3,
    )
    assert options == BatchingOptions(
        max_batch_size=8,
        batch_timeout_micros=2000,
        max_enqueued_batches=10,
        num_batch_threads=3,
        thread_pool_name="pool",
        allowed_batch_sizes=(2, 8),
        pad_variable_length_inputs=True,
    )
    assert [options.padded_size(n) for n in (1, 2, 3, 8)] == [2, 2, 8, 8]
    assert parse_batching_parameters("", cores=2).num_batch_threads == 2  # TF Serving's defaults
    with pytest.raises(BatchingConfigError, match="max_batch_sizes"):
        parse_batching_parameters("max_batch_sizes { value: 8 }")  # a typo is an error
    with pytest.raises(BatchingConfigError, match="end with max_batch_size"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")
    with pytest.raises(BatchingConfigError, match="num_batch_threads"):
        parse_batching_parameters("num_batch_threads { value: 0 }")


@pytest.fixture(scope="module")
def batching_backends(tiny_model, tmp_path_factory):
    from backends import start_backends

    folder = tmp_path_factory.mktemp("batching")
    specs = []
    for name, text in (("four", WAIT_FOR_FOUR), ("tiny-queue", TINY_QUEUE)):
        (folder / f"{name}.txt").write_text(text)
        specs.append(
            dict(
                threads=1,
                log_dir=folder,
                rest=True,
                extra_args=("--batching-parameters", str(folder / f"{name}.txt")),
            )
        )
    backends = start_backends(specs, tiny_model)
    yield dict(zip(("four", "tiny-queue"), backends))
    for backend in backends:
        backend.stop()


@pytest.fixture(scope="module")
def cat_targets(tmp_path_factory):
    cat = save(photo("chelsea"), tmp_path_factory.mktemp("cat") / "cat.jpg")

    def targets(address):
        payloads, info, _ = variant_payloads([cat], ["256-jpeg"])
        found, problems = build_targets([BackendSpec("b", address, model="tiny")], payloads, info)
        assert not problems
        return found

    return targets


def batch_sizes(backend) -> tuple[float, float]:
    """(batches, rows) the server has processed so far, from its batching metrics."""
    from tfcompare.serving.server_metrics import METRICS_PATH, MetricsScraper, parse_metrics

    family = ":tensorflow:serving:batching_session:processed_batch_size"
    scraper = MetricsScraper(f"http://{backend.rest}{METRICS_PATH}")
    try:
        return parse_metrics(scraper.fetch(), families=(family,)).total(family)
    finally:
        scraper.close()


@pytest.mark.slow
def test_the_server_sees_the_requested_concurrency(batching_backends, cat_targets):
    backend = batching_backends["four"]
    targets = cat_targets(backend.grpc)
    start = batch_sizes(backend)
    [three] = sweep(LoadPlan(levels=(3,), window_s=1.2, max_windows=3), targets).levels
    middle = batch_sizes(backend)
    [four] = sweep(LoadPlan(levels=(4,), window_s=1.2, max_windows=3), targets).levels
    end = batch_sizes(backend)
    # the server's own count: with 3 in flight no batch ever holds more than 3 (each waits for
    # the timeout); with 4 in flight almost every batch is full (the warm-up request runs alone)
    (b3, rows3), (b4, rows4) = (
        (m - s for m, s in zip(middle, start, strict=True)),
        (e - m for e, m in zip(end, middle, strict=True)),
    )
    assert 2.5 < rows3 / b3 <= 3.0
    assert rows4 / b4 > 3.6
    # and what the client sees: a full batch answers at once, a partial one after 0.4 s
    assert four.throughput > 4 * three.throughput
    assert four.ok > 0 and not four.errors and not three.errors


@pytest.mark.slow
def test_a_full_batch_queue_answers_unavailable_and_is_counted(batching_backends, cat_targets):
    targets = cat_targets(batching_backends["tiny-queue"].grpc)
    plan = LoadPlan(levels=(12,), window_s=0.5, max_windows=3, max_errors=1_000_000)
    [level] = sweep(plan, targets).levels
    assert level.errors.get("UNAVAILABLE", 0) > 0  # refused, counted, and the sweep went on
    assert level.ok > 0 and len(level.windows) >= 3
    assert set(level.errors) == {"UNAVAILABLE"}
    assert QUEUE_FULL.startswith("The batch scheduling queue")


@pytest.mark.slow  # a real backend's start-up log
def test_batch_threads_default_to_the_backends_cpus(tiny_model, tmp_path):
    """Like TF Serving in a pod, num_batch_threads defaults to the CPUs the backend has: its
    --threads (the stand-in for the pod's CPUs), not the cores of the machine it runs on."""
    from backends import launch_backend

    (tmp_path / "params.txt").write_text("max_batch_size { value: 4 }\n")
    backend = launch_backend(
        tiny_model,
        threads=3,
        log_dir=tmp_path,
        extra_args=("--batching-parameters", str(tmp_path / "params.txt")),
    )
    try:
        backend.wait_ready()
        log = backend.log_path.read_text()
    finally:
        backend.stop()
    assert "batching on: max_batch_size=4" in log
    assert "num_batch_threads=3" in log
