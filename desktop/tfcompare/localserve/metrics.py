"""The local server's Prometheus metrics, named, labelled and bucketed as TF Serving's
(``servables/tensorflow/util.cc``), exposed with ``prometheus_client`` at
``/monitoring/prometheus/metrics`` on the REST port.

``REGISTRY`` is the one registry of the server process: other parts (batching, …) add their
metrics to it with ``registry=REGISTRY``. Times are whole microseconds, like TF Serving's. With
``enable_request_log(path)`` (``tfcompare serve --log-request-times FILE``) the server also writes
its own time for every request, one JSON line each, so the client's derived figures can be
checked against it.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from typing import TextIO

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tfcompare.localserve.model_names import is_model_name
from tfcompare.serving.server_metrics import (
    GRAPH_RUN_TIME,
    GRAPH_RUNS,
    LATENCY_BUCKETS_US,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    RUNTIME_API,
    RUNTIME_LATENCY,
)

prometheus_client.disable_created_metrics()  # TF Serving exports no *_created series

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
RUNTIME = "TF1"  # what TF Serving reports for a SavedModel run through a session
BUCKETS = (*LATENCY_BUCKETS_US, math.inf)

request_count = Counter(
    REQUEST_COUNT, "The total number of requests.", ("model_name", "status"), registry=REGISTRY
)
request_latency = Histogram(
    REQUEST_LATENCY,
    "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
    ("model_name", "API", "entrypoint"),
    buckets=BUCKETS,
    registry=REGISTRY,
)
runtime_latency = Histogram(
    RUNTIME_LATENCY,
    "Distribution of wall time (in microseconds) for Tensorflow runtime.",
    ("model_name", "API", "runtime"),
    buckets=BUCKETS,
    registry=REGISTRY,
)
graph_runs = Counter(
    GRAPH_RUNS,
    "The number of graph executions used to collect /tensorflow/core/graph_run_time_usecs",
    registry=REGISTRY,
)
bytes_in_flight = Gauge(
    ":tfcompare:serving:request_bytes_in_flight",
    "Bytes of gRPC Predict requests being worked on (bounded by --max-in-flight-mb).",
    registry=REGISTRY,
)
graph_run_time = Counter(
    GRAPH_RUN_TIME,
    "The total time spent on executing graphs in microseconds.",
    registry=REGISTRY,
)

_local = threading.local()
_log: TextIO | None = None
_log_lock = threading.Lock()


# Requests name their model; a client sending endless made-up names must not grow the page (and
# this process) without bound: past this many names, the rest are counted under OTHER_MODEL.
MAX_MODEL_NAMES = 64
OTHER_MODEL = "(other)"
_model_names: set[str] = set()
_model_names_lock = threading.Lock()
_children: dict[tuple, object] = {}  # (metric, labels) → labelled series, bounded by the above


def _model_label(model: str) -> str:
    if model in _model_names:
        return model
    if not is_model_name(model):  # never on the page: it could break the page's lines
        return OTHER_MODEL
    with _model_names_lock:
        if len(_model_names) < MAX_MODEL_NAMES:
            _model_names.add(model)
            return model
    return OTHER_MODEL


def _child(metric, *labels: str):
    """``metric.labels(*labels)``, kept: prometheus_client checks and locks on every lookup,
    which each request would otherwise pay two or three times."""
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def now_us() -> int:
    return time.perf_counter_ns() // 1000


def enable_request_log(path: str) -> None:
    """Test mode: append one JSON line per request with the server's own times."""
    global _log
    _log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the process


def record_runtime(model: str, micros: int) -> None:
    """One model run (the signature call alone)."""
    model = _model_label(model)
    _child(runtime_latency, model, RUNTIME_API, RUNTIME).observe(micros)
    graph_runs.inc()
    graph_run_time.inc(micros)
    _local.runtime_us = micros


def record_request(model: str, api: str, entrypoint: str, status: str, micros: int) -> None:
    """One request as TF Serving records it: counted with its status, its latency kept only when
    it succeeded (``status`` is the gRPC code name, ``OK`` on success)."""
    model = _model_label(model)
    _child(request_count, model, status).inc()
    runtime_us = getattr(_local, "runtime_us", None)
    _local.runtime_us = None
    if status != "OK":
        return
    _child(request_latency, model, api, entrypoint).observe(micros)
    if _log is not None:
        line = json.dumps(
            {
                "model": model,
                "api": api,
                "entrypoint": entrypoint,
                "request_us": micros,
                "runtime_us": runtime_us,
                "t": time.time(),
            }
        )
        with _log_lock:
            _log.write(line + "\n")


def page(query: str = "") -> bytes:
    """The Prometheus text page; ``name[]=SAMPLE`` in the query string keeps just those samples
    (prometheus_client's exporter convention: a scrape that reads two totals need not format
    every bucket)."""
    from urllib.parse import parse_qs

    names = parse_qs(query).get("name[]")
    if names:  # a counter asked for by TF Serving's name is prometheus_client's NAME_total
        names = [*names, *(f"{n}_total" for n in names)]
    registry = REGISTRY.restricted_registry(names) if names else REGISTRY
    return _tf_serving_counter_names(prometheus_client.generate_latest(registry))


def _tf_serving_counter_names(text: bytes) -> bytes:
    """prometheus_client writes a counter NAME as ``NAME_total``; TF Serving's exporter writes
    NAME itself (``# TYPE :tensorflow:serving:request_count counter``). Dashboards and queries
    written for TF Serving then work against the local backend unchanged."""
    counters = re.findall(rb"^# TYPE (\S+)_total counter$", text, re.MULTILINE)
    if not counters:
        return text
    pattern = re.compile(
        rb"^((?:# (?:HELP|TYPE) )?(?:"
        + b"|".join(re.escape(c) for c in counters)
        + rb"))_total(?=[ {])",
        re.MULTILINE,
    )
    return pattern.sub(rb"\1", text)
