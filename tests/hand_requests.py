"""Request results built by hand, for the statistics, report and one-place tests."""

from __future__ import annotations

from tfcompare.results import RequestResult
from tfcompare.serving.answers import Prediction


def req(
    variant, latency, top, *, backend="b", image="cat.jpg", ok=True, phase="measured", repeat=0
):
    return RequestResult(
        image=image,
        variant=variant,
        backend=backend,
        protocol="grpc",
        phase=phase,
        repeat=repeat,
        ok=ok,
        latency_ms=latency if ok else None,
        client_ms=0.1,
        bytes=1000,
        model_version=1,
        error=None if ok else "UNAVAILABLE: down",
        top5=tuple(Prediction(lbl, s) for lbl, s in top),
        score_kind="probability",
    )


CAT = [("tabby", 0.6), ("tiger cat", 0.2), ("Egyptian cat", 0.1), ("lynx", 0.05), ("fox", 0.01)]
