"""Reading TF Serving's Prometheus page and deriving a block's server time from two scrapes.

The fixture pages in ``fixtures/tf_serving_metrics`` are written in the format of TF Serving's
exporter (``tensorflow_serving/util/prometheus_exporter.cc``: TYPE lines only, ``:``-separated names,
labels in declared order, ``_sum`` with six significant digits, buckets Exponential(10, 1.8, 33) +
+Inf) from the metric definitions in ``servables/tensorflow/util.cc``: two models, gRPC and REST
traffic, status checks (API ""), a few failed requests. ``after.txt`` adds our block of 3 gRPC
Predicts of "inception" (server 41234, 39876, 40321 µs; runtime 35012, 34001, 34520 µs) and a
readiness probe's status check; ``after_shared.txt`` has 2 more Predicts from someone else;
``after_restart.txt`` is the page of a restarted server that has counted 2 requests since.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcompare.serving.server_metrics import (
    LATENCY_BUCKETS_US,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    RUNTIME_LATENCY,
    MetricsError,
    block_time,
    parse_metrics,
)

PAGES = Path(__file__).parent / "fixtures" / "tf_serving_metrics"


def page(name: str):
    return parse_metrics((PAGES / f"{name}.txt").read_text())


def test_parses_a_tf_serving_page():
    snap = page("before")
    assert snap.is_tf_serving
    assert snap.total(
        REQUEST_LATENCY, model_name="inception", API="Predict", entrypoint="GRPC"
    ) == (1000, 4.11005e7)
    assert (
        snap.total(REQUEST_LATENCY, model_name="inception", API="predict", entrypoint="REST")[0]
        == 40
    )
    # every inception series: gRPC + REST predicts + REST status checks
    assert snap.total(REQUEST_LATENCY, model_name="inception")[0] == 1052
    assert snap.total(RUNTIME_LATENCY, model_name="resnet", API="Predict")[0] == 500
    assert snap.counter(REQUEST_COUNT, model_name="inception", status="OK") == 1052
    assert snap.counter(REQUEST_COUNT, model_name="inception") == 1055


def test_fixture_buckets_are_tf_servings():
    """The fixture's bucket limits are the ones tfcompare exports itself (one definition)."""
    text = (PAGES / "before.txt").read_text()
    series = 'model_name="resnet",API="Predict",entrypoint="GRPC"'
    les = [
        line.split('le="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith(f"{REQUEST_LATENCY}_bucket{{{series}")
    ]
    assert les[-1] == "+Inf" and len(les) == 34
    assert [float(x) for x in les[:-1]] == list(LATENCY_BUCKETS_US)


def test_block_time_of_our_requests_only():
    block = block_time(page("before"), page("after"), "inception", "grpc", sent=3)
    assert block.exact, block.note
    assert block.counted == 3
    # the server prints its sums with 6 digits: 4.12219e+07 - 4.11005e+07 = 121400 µs
    assert block.server_ms == pytest.approx(121400 / 3 / 1000)
    assert block.server_ms == pytest.approx((41234 + 39876 + 40321) / 3 / 1000, abs=0.05)
    assert block.runtime_ms == pytest.approx((35012 + 34001 + 34520) / 3 / 1000, abs=0.05)


def test_other_model_and_protocol_are_not_ours():
    # nothing changed for REST predicts of inception nor for resnet
    rest = block_time(page("before"), page("after"), "inception", "rest", sent=3)
    assert rest.counted == 0 and rest.server_ms is None and not rest.exact
    other = block_time(page("before"), page("after"), "resnet", "grpc", sent=3)
    assert other.counted == 0 and not other.exact


def test_other_traffic_is_marked_shared():
    block = block_time(page("before"), page("after_shared"), "inception", "grpc", sent=3)
    assert not block.exact
    assert block.counted == 5
    assert "shared" in block.note and "5" in block.note
    assert block.server_ms > 41.5  # the others' slower requests are in the mean: not ours alone


def test_counter_reset_between_scrapes():
    block = block_time(page("before"), page("after_restart"), "inception", "grpc", sent=3)
    assert not block.exact
    assert "reset" in block.note
    assert block.counted == 2
    assert block.server_ms == pytest.approx(50.0)


def test_reset_with_nothing_counted_since():
    empty = parse_metrics("# TYPE :tensorflow:serving:request_latency histogram\n")
    block = block_time(page("before"), empty, "inception", "grpc", sent=3)
    assert not block.exact and block.server_ms is None and "reset" in block.note


def test_rounded_totals_make_a_small_delta_imprecise():
    head = f"# TYPE {REQUEST_LATENCY} histogram\n"
    before = parse_metrics(
        head
        + f'{REQUEST_LATENCY}_sum{{model_name="m",API="Predict",entrypoint="GRPC"}} 1.23456e+09\n'
        f'{REQUEST_LATENCY}_count{{model_name="m",API="Predict",entrypoint="GRPC"}} 9000\n'
    )
    after = parse_metrics(
        head
        + f'{REQUEST_LATENCY}_sum{{model_name="m",API="Predict",entrypoint="GRPC"}} 1.23457e+09\n'
        f'{REQUEST_LATENCY}_count{{model_name="m",API="Predict",entrypoint="GRPC"}} 9003\n'
    )
    block = block_time(before, after, "m", "grpc", sent=3)
    assert block.counted == 3 and not block.exact and "imprecise" in block.note


def test_totals_printed_with_every_digit_stay_exact_however_large():
    """prometheus_client (the local backend's exporter) prints every digit: a block read from
    totals of 10^9 µs is as exact as one read from small totals."""
    head = f"# TYPE {REQUEST_LATENCY} histogram\n"
    labels = '{model_name="m",API="Predict",entrypoint="GRPC"}'

    def totals(total_us: float, count: int):
        return parse_metrics(
            head + f"{REQUEST_LATENCY}_sum{labels} {total_us!r}\n"
            f"{REQUEST_LATENCY}_count{labels} {count}\n"
        )

    block = block_time(totals(1234561234.5678, 9000), totals(1234567001.25, 9003), "m", "grpc", 3)
    assert block.counted == 3 and block.exact and block.note == ""
    assert block.server_ms == pytest.approx((1234567001.25 - 1234561234.5678) / 3 / 1000)


def test_not_a_metrics_page():
    with pytest.raises(MetricsError):
        parse_metrics(':tensorflow:serving:request_count{model_name="m" 3\n')
    assert not parse_metrics("<html>hello</html>\n").is_tf_serving


@pytest.mark.parametrize(
    ("address", "protocol", "tls", "url"),
    [
        ("10.0.0.5:8500", "grpc", False, "http://10.0.0.5:8501/monitoring/prometheus/metrics"),
        ("10.0.0.5:9000", "grpc", True, "http://10.0.0.5:9001/monitoring/prometheus/metrics"),
        ("127.0.0.1:8501", "rest", False, "http://127.0.0.1:8501/monitoring/prometheus/metrics"),
        ("h:443", "rest", True, "https://h:443/monitoring/prometheus/metrics"),
    ],
)
def test_discovered_url(address, protocol, tls, url):
    from tfcompare.serving import protocols

    assert protocols.get(protocol).metrics_urls(address, tls) == (url,)


def test_scraper_falls_back_to_the_plain_path_like_tf_serving_needs():
    """TF Serving compares the request's path *with* its query string to the metrics path and
    answers 400 "Unexpected path" otherwise (model_servers/http_server.cc): the scraper's
    totals-only request must fall back to the plain page, keep-alive and all."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tfcompare.serving.server_metrics import METRICS_PATH, MetricsScraper

    page = (PAGES / "before.txt").read_bytes()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            ok = self.path == METRICS_PATH
            body = (
                page if ok else f"Unexpected path: {self.path}. Should be {METRICS_PATH}".encode()
            )
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop to look again: every 0.02 s, not the default 0.5 s
    threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True).start()
    try:
        scraper = MetricsScraper(f"http://127.0.0.1:{server.server_address[1]}{METRICS_PATH}")
        for _ in range(3):
            snap = scraper.scrape(totals_only=True)
            assert snap.total(REQUEST_LATENCY, model_name="inception", API="Predict")[0] == 1000
        scraper.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0].startswith(METRICS_PATH + "?name")  # tried the filter once ...
    assert seen[1:] == [METRICS_PATH] * 3  # ... then the plain page, as TF Serving wants
