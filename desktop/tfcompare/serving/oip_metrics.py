"""The Prometheus metrics of Open Inference Protocol servers that give a server time per
request: Seldon's MLServer and KServe's Python model server (``MetricsFormat``s registered in
``server_metrics.FORMATS``). Names, labels and units from their source: ``mlserver/handlers/
dataplane.py`` and ``kserve/metrics.py``; both export through prometheus_client, which prints
every digit of a total (no rounding to account for).
"""

from __future__ import annotations

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import (
    BlockTime,
    MetricsFormat,
    Snapshot,
    register,
    totals_block,
)

MLSERVER_DURATION = "model_infer_request_duration"
MLSERVER_SUCCESS = "model_infer_request_success"


class MlserverMetrics(MetricsFormat):
    """MLServer's ``model_infer_request_duration{model,version}``: a summary in seconds of each
    inference as its data plane handles it (the model found, run and its answer made; not the
    HTTP or gRPC decoding around it), for successful and failed requests alike
    (``mlserver/handlers/dataplane.py``). Served on its metrics port (8082) at ``/metrics``.
    The model run alone is not published apart."""

    name = "MLServer"
    families = (MLSERVER_DURATION, MLSERVER_SUCCESS)
    totals = (f"{MLSERVER_DURATION}_sum", f"{MLSERVER_DURATION}_count")

    def recognises(self, snapshot: Snapshot) -> bool:
        return MLSERVER_DURATION in snapshot.families

    def block_time(
        self, before: Snapshot, after: Snapshot, spec: BackendSpec, sent: int
    ) -> BlockTime:
        model = spec.model or "default"
        return totals_block(
            before.total(MLSERVER_DURATION, model=model),
            after.total(MLSERVER_DURATION, model=model),
            sent,
            unit_ms=1000.0,
        )


KSERVE_PREPROCESS = "request_preprocess_seconds"
KSERVE_PREDICT = "request_predict_seconds"
KSERVE_POSTPROCESS = "request_postprocess_seconds"


class KServeMetrics(MetricsFormat):
    """KServe's Python model server: histograms in seconds, label ``model_name``, of each
    request's ``preprocess``, ``predict`` and ``postprocess`` steps (``kserve/metrics.py``,
    timed in ``Model.__call__`` for v1, v2 REST and v2 gRPC alike), at ``/metrics`` on its HTTP
    port. Server time is the three steps together; the model run is ``predict``."""

    name = "KServe"
    families = (KSERVE_PREPROCESS, KSERVE_PREDICT, KSERVE_POSTPROCESS)
    totals = tuple(f"{f}{suffix}" for f in families for suffix in ("_sum", "_count"))

    def recognises(self, snapshot: Snapshot) -> bool:
        return KSERVE_PREDICT in snapshot.families

    def block_time(
        self, before: Snapshot, after: Snapshot, spec: BackendSpec, sent: int
    ) -> BlockTime:
        model = spec.model or "default"

        def steps(snap: Snapshot) -> tuple[float, float]:
            count, _ = snap.total(KSERVE_PREDICT, model_name=model)
            total = sum(snap.total(f, model_name=model)[1] for f in self.families)
            return count, total

        return totals_block(
            steps(before),
            steps(after),
            sent,
            unit_ms=1000.0,
            runtime=(
                before.total(KSERVE_PREDICT, model_name=model),
                after.total(KSERVE_PREDICT, model_name=model),
            ),
        )


register(MlserverMetrics())
register(KServeMetrics())
