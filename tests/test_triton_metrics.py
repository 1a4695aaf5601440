"""Reading Triton's Prometheus page and deriving a block's server, queue and model time.

The fixture pages in ``fixtures/triton_metrics`` are written in the format of Triton's metrics
endpoint (prometheus-cpp's text serializer: HELP and TYPE lines for every registered family, the
empty ones included; counters, then gauges, histograms and summaries; labels sorted by name) from
the metric definitions in triton-inference-server/core ``src/metrics.cc`` and
``src/metric_model_reporter.cc``: a GPU server with two models, ``inception-v3`` (version 1, a few
failures with their ``reason``) and ``densenet_onnx`` (dynamic batching: fewer executions than
requests). ``after.txt`` adds our block of 3 requests to inception-v3 (request 41234, 39876,
40321 µs; queue 112, 95, 130; compute input 310, 295, 305; infer 35012, 34001, 34520; output 88,
91, 86); ``after_shared.txt`` 2 more from someone else; ``after_restart.txt`` is the page of a
restarted server that has counted 2 requests since (100 000 µs in all).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import FORMATS, format_of, parse_metrics
from tfcompare.serving.triton_metrics import (
    COMPUTE_INFER_US,
    FAILURE,
    FAMILIES,
    QUEUE_US,
    REQUEST_US,
    SUCCESS,
    TritonMetrics,
)

PAGES = Path(__file__).parent / "fixtures" / "triton_metrics"
OURS = {
    "request": (41234, 39876, 40321),
    "queue": (112, 95, 130),
    "infer": (35012, 34001, 34520),
}


def page(name: str):
    return parse_metrics((PAGES / f"{name}.txt").read_text())


def spec(model: str = "inception-v3", version: str | None = None) -> BackendSpec:
    return BackendSpec("t", "127.0.0.1:8001", model=model, version=version)


def mean_ms(values: tuple[int, ...]) -> float:
    return sum(values) / len(values) / 1000.0


def test_the_page_is_recognised_as_tritons_and_read():
    snap = page("before")
    fmt = format_of(snap)
    assert isinstance(fmt, TritonMetrics) and fmt.name == "Triton"
    assert any(isinstance(f, TritonMetrics) for f in FORMATS)
    assert set(FAMILIES) <= snap.families  # every family Triton registers is on its page
    # counters per model, summed over the GPU series; failures carry their reason
    assert snap.counter(SUCCESS, model="inception-v3") == 1000
    assert snap.counter(SUCCESS, model="densenet_onnx", version="1") == 480
    assert snap.counter(FAILURE, model="inception-v3") == 3
    assert snap.counter(FAILURE, model="inception-v3", reason="REJECTED") == 1
    assert snap.counter(REQUEST_US, model="inception-v3") == 41100533
    # a TF Serving page is not Triton's, nor the other way round
    tfs = parse_metrics(
        (Path(__file__).parent / "fixtures" / "tf_serving_metrics" / "before.txt").read_text()
    )
    assert format_of(tfs).name == "TF Serving"
    assert not snap.is_tf_serving


def test_block_time_splits_server_queue_and_model_time():
    block = TritonMetrics().block_time(page("before"), page("after"), spec(), sent=3)
    assert block.exact and block.note == "" and block.counted == 3
    assert block.server_ms == pytest.approx(mean_ms(OURS["request"]))
    assert block.queue_ms == pytest.approx(mean_ms(OURS["queue"]))
    # the model run alone: compute infer, not the input and output copies
    assert block.runtime_ms == pytest.approx(mean_ms(OURS["infer"]))
    assert block.queue_ms < block.runtime_ms < block.server_ms


def test_the_version_named_in_the_spec_is_the_one_read():
    same = TritonMetrics().block_time(page("before"), page("after"), spec(version="1"), sent=3)
    assert same.counted == 3 and same.exact
    other = TritonMetrics().block_time(page("before"), page("after"), spec(version="2"), sent=3)
    assert other.counted == 0 and other.server_ms is None and "version" in other.note


def test_other_model_is_not_ours():
    block = TritonMetrics().block_time(page("before"), page("after"), spec("densenet_onnx"), sent=3)
    assert block.counted == 0 and block.server_ms is None and not block.exact
    assert "counted none" in block.note


def test_other_traffic_is_marked_shared():
    block = TritonMetrics().block_time(page("before"), page("after_shared"), spec(), sent=3)
    assert not block.exact and block.counted == 5
    assert "shared" in block.note and "5" in block.note
    assert block.server_ms > mean_ms(OURS["request"])  # the others' slower requests are in it


def test_counter_reset_between_scrapes():
    block = TritonMetrics().block_time(page("before"), page("after_restart"), spec(), sent=3)
    assert not block.exact and "reset" in block.note
    assert block.counted == 2
    assert block.server_ms == pytest.approx(50.0)
    assert block.queue_ms == pytest.approx(0.2) and block.runtime_ms == pytest.approx(40.0)


def test_reset_with_nothing_counted_since():
    empty = parse_metrics(
        f"# HELP {SUCCESS} Number of successful inference requests, all batch sizes\n"
        f"# TYPE {SUCCESS} counter\n"
    )
    block = TritonMetrics().block_time(page("before"), empty, spec(), sent=3)
    assert not block.exact and block.server_ms is None and "reset" in block.note


def _page(success: int, request: int, queue: int, infer: int, hits: int | None) -> str:
    labels = '{model="m",version="1"}'
    lines = []
    for family, value in (
        (SUCCESS, success),
        (REQUEST_US, request),
        (QUEUE_US, queue),
        (COMPUTE_INFER_US, infer),
        ("nv_cache_num_hits_per_model", hits),
    ):
        lines.append(f"# TYPE {family} counter")
        if value is not None:
            # newer prometheus-cpp releases print counters in fixed notation
            lines.append(f"{family}{labels} {value:.6f}")
    return "\n".join(lines) + "\n"


def test_cache_hits_are_said_and_left_out_of_the_model_time():
    before = parse_metrics(_page(10, 100_000, 1_000, 50_000, 0))
    after = parse_metrics(_page(14, 130_000, 1_400, 60_000, 2))  # 2 of 4 answered from the cache
    block = TritonMetrics().block_time(before, after, spec("m"), sent=4)
    assert block.counted == 4 and not block.exact and "cache" in block.note
    assert block.server_ms == pytest.approx(7.5) and block.queue_ms == pytest.approx(0.1)
    assert block.runtime_ms == pytest.approx(5.0)  # 10 000 µs over the 2 that ran the model


def test_latency_counters_turned_off_are_explained():
    labels = '{model="m",version="1"}'
    text = (
        f"# TYPE {SUCCESS} counter\n{SUCCESS}{labels} 10\n"
        f"# TYPE {REQUEST_US} counter\n"  # registered, but no series: counter_latencies=false
    )
    after = text.replace(f"{labels} 10", f"{labels} 13")
    block = TritonMetrics().block_time(parse_metrics(text), parse_metrics(after), spec("m"), 3)
    assert block.counted == 3 and block.server_ms is None and not block.exact
    assert "counter_latencies=false" in block.note


def test_block_scrapes_ask_for_tritons_totals(tmp_path):
    """The scraper's block scrapes name the chosen format's totals (exporters built on
    prometheus_client filter by ``name[]``; Triton's endpoint ignores the query string)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tfcompare.serving.server_metrics import MetricsScraper

    body = (PAGES / "after.txt").read_bytes()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            ok = self.path.split("?", 1)[0] in ("/metrics", "/metrics/")
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop to look again: every 0.02 s, not the default 0.5 s
    threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True).start()
    try:
        scraper = MetricsScraper(f"http://127.0.0.1:{server.server_address[1]}/metrics")
        fmt = format_of(scraper.scrape())
        scraper.use(fmt)
        snap = scraper.scrape(totals_only=True)
        scraper.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] == "/metrics"
    assert "name%5B%5D=nv_inference_request_duration_us" in seen[1]
    assert "tensorflow" not in seen[1]
    assert snap.counter(REQUEST_US, model="inception-v3") == 41221964
