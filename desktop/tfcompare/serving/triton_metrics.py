"""Triton Inference Server's Prometheus metrics (port 8002, ``/metrics``) and the server time of a
block of requests from two scrapes.

Facts from Triton's source (triton-inference-server/core ``src/metrics.cc``,
``src/metric_model_reporter.cc``, ``src/infer_stats.cc``, ``src/constants.h``): the per-model
families are prometheus-cpp *counters*, cumulative since the model loaded —
``nv_inference_request_success``, ``nv_inference_request_failure`` (with a ``reason`` label:
REJECTED, CANCELED, BACKEND, OTHER), ``nv_inference_count`` (inferences: a request of batch 8
counts 8), ``nv_inference_exec_count`` (model executions: fewer than requests under dynamic
batching) and the latency totals in **microseconds** ``nv_inference_request_duration_us`` (the
whole request in the server, cached ones included), ``nv_inference_queue_duration_us`` (waiting in
the scheduler's queue), ``nv_inference_compute_input_duration_us``,
``nv_inference_compute_infer_duration_us`` and ``nv_inference_compute_output_duration_us`` (copying
inputs into the framework, running the model, copying outputs out; not for cached requests). Every
successful request adds its own durations, each truncated to whole µs, so with dynamic batching
each request of a batch adds the batch's compute time. Labels: ``model``, ``version`` (and
``namespace`` with model namespacing, ``gpu_uuid`` per GPU instance, any ``_TAG`` from the model's
metric tags), in alphabetical order. The latency counters exist unless Triton runs with
``--metrics-config counter_latencies=false``; the response cache adds
``nv_cache_num_hits_per_model``.

A block's means divide each duration delta by the success delta: ``server_ms`` from the request
duration, ``queue_ms`` from the queue duration, ``runtime_ms`` from the compute *infer* duration
alone — the model run, as TF Serving's ``runtime_latency`` — over the requests that ran the model
(successes less cache hits). Compute input and output are in the server time, not in the model time.
"""

from __future__ import annotations

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import BlockTime, MetricsFormat, Snapshot, register

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"
INFERENCES = "nv_inference_count"
EXECUTIONS = "nv_inference_exec_count"
REQUEST_US = "nv_inference_request_duration_us"
QUEUE_US = "nv_inference_queue_duration_us"
COMPUTE_INPUT_US = "nv_inference_compute_input_duration_us"
COMPUTE_INFER_US = "nv_inference_compute_infer_duration_us"
COMPUTE_OUTPUT_US = "nv_inference_compute_output_duration_us"
CACHE_HITS = "nv_cache_num_hits_per_model"
FAMILIES = (
    SUCCESS,
    FAILURE,
    INFERENCES,
    EXECUTIONS,
    REQUEST_US,
    QUEUE_US,
    COMPUTE_INPUT_US,
    COMPUTE_INFER_US,
    COMPUTE_OUTPUT_US,
    CACHE_HITS,
)
# what a block reads: the page's totals (Triton's metrics server ignores the query string)
TOTALS = (SUCCESS, REQUEST_US, QUEUE_US, COMPUTE_INFER_US, CACHE_HITS)
PREFIX = "nv_inference_"


def _match(spec: BackendSpec) -> dict[str, str]:
    """The labels of the backend's series: its model, and its version when the spec names one
    (else every loaded version of the model: Triton serves the latest by default)."""
    match = {"model": spec.model or ""}
    if spec.version is not None:
        match["version"] = str(spec.version)
    return match


def _has_series(snapshot: Snapshot, family: str, match: dict[str, str]) -> bool:
    return any(
        all((k, v) in labels for k, v in match.items())
        for labels in snapshot.counters.get(family, {})
    )


class TritonMetrics(MetricsFormat):
    """Triton's per-model counters: server, queue and model time per request."""

    name = "Triton"
    families = FAMILIES
    totals = TOTALS

    def recognises(self, snapshot: Snapshot) -> bool:
        return any(name.startswith(PREFIX) for name in snapshot.families)

    def block_time(
        self, before: Snapshot, after: Snapshot, spec: BackendSpec, sent: int
    ) -> BlockTime:
        match = _match(spec)

        def delta(family: str) -> tuple[float, float]:
            return before.counter(family, **match), after.counter(family, **match)

        ok0, ok1 = delta(SUCCESS)
        totals = {f: delta(f) for f in (REQUEST_US, QUEUE_US, COMPUTE_INFER_US, CACHE_HITS)}
        if not _has_series(after, REQUEST_US, match) and _has_series(after, SUCCESS, match):
            return BlockTime(
                int(round(ok1 - ok0)) if ok1 >= ok0 else None,
                None,
                None,
                False,
                "Triton's latency counters are off (--metrics-config counter_latencies=false)",
            )
        went_back = ok1 < ok0 or any(b < a for a, b in totals.values())
        if went_back:
            # The counters restarted (server or model reloaded): what was counted since is a
            # lower bound on the block, not the block.
            if ok1 <= 0:
                return BlockTime(None, None, None, False, "counters reset (server restarted)")
            return self._means(
                int(ok1),
                {f: b for f, (_a, b) in totals.items()},
                False,
                "counters reset (server restarted or model reloaded): from the requests "
                "counted since",
            )
        counted = int(round(ok1 - ok0))
        if counted <= 0:
            note = (
                "the server counted none of these requests (wrong model name or version, or "
                "metrics of another server?)"
                if sent
                else "no successful request"
            )
            return BlockTime(counted, None, None, False, note)
        notes = []
        if counted != sent:
            notes.append(f"shared: the server counted {counted} requests, {sent} were sent")
        hits = int(round(totals[CACHE_HITS][1] - totals[CACHE_HITS][0]))
        if hits:
            notes.append(f"{hits} of them answered from Triton's response cache")
        return self._means(
            counted, {f: b - a for f, (a, b) in totals.items()}, not notes, "; ".join(notes)
        )

    @staticmethod
    def _means(counted: int, deltas: dict[str, float], exact: bool, note: str) -> BlockTime:
        ran = counted - int(round(deltas[CACHE_HITS]))
        return BlockTime(
            counted=counted,
            server_ms=deltas[REQUEST_US] / counted / 1000.0,
            runtime_ms=deltas[COMPUTE_INFER_US] / ran / 1000.0 if ran > 0 else None,
            exact=exact,
            note=note,
            queue_ms=deltas[QUEUE_US] / counted / 1000.0,
        )


register(TritonMetrics())
