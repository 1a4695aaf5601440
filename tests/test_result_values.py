"""Results read back from files go through one validated ``from_dict`` path (``checks.from_fields``):
a round trip gives the same values; a crafted value is refused naming its field."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tfcompare.results import Aggregate, BackendTiming, RequestResult, ServerTime
from tfcompare.serving.answers import Prediction

REQUEST = RequestResult(
    image="cat.jpg",
    variant="512-jpeg",
    backend="gpu",
    protocol="v2",
    phase="measured",
    repeat=2,
    ok=True,
    latency_ms=12.5,
    client_ms=0.3,
    bytes=604_000,
    model_version=1,
    error=None,
    top5=(Prediction("tabby", 0.8), Prediction("tiger cat", math.nan)),
    score_kind="probability",
    preprocess_ms=4.25,
)
AGGREGATE = Aggregate(
    image="cat.jpg",
    variant="original",
    backend="gpu",
    n=10,
    n_errors=0,
    bytes=1000,
    p50_ms=1.0,
    p90_ms=2.0,
    p99_ms=3.0,
    mean_ms=1.5,
    stdev_ms=0.2,
    few_samples=False,
    top1="tabby",
    top1_agree=True,
    top5_overlap=1.0,
    score_ratio=1.0,
    path_ms=-0.1,
    queue_ms=0.4,
)


def test_round_trips():
    back = RequestResult.from_dict(REQUEST.to_dict())
    assert back.top5[0] == REQUEST.top5[0] and math.isnan(back.top5[1].score)
    assert back.protocol == "v2" and back.preprocess_ms == 4.25
    # Open Inference Protocol servers name versions with labels
    labelled = replace(REQUEST, model_version="v2.0")
    assert RequestResult.from_dict(labelled.to_dict()).model_version == "v2.0"
    assert Aggregate.from_dict(AGGREGATE.to_dict()) == AGGREGATE
    st = ServerTime("cat.jpg", "original", "gpu", 3, 3, 5.0, 4.0, True, "", 0.5)
    assert ServerTime.from_dict(st.to_dict()) == st
    # older files lack the newer fields: their defaults
    old = {k: v for k, v in AGGREGATE.to_dict().items() if k not in ("queue_ms", "preprocess_ms")}
    assert Aggregate.from_dict(old).queue_ms is None
    assert BackendTiming.from_dict({"backend": "gpu"}).input == ""


@pytest.mark.parametrize(
    ("cls", "base", "field", "value", "words"),
    [
        (RequestResult, REQUEST, "latency_ms", "12", "a request latency_ms must be a number"),
        (RequestResult, REQUEST, "latency_ms", 10**400, "must be a number"),
        (RequestResult, REQUEST, "ok", 1, "a request ok must be true or false"),
        (RequestResult, REQUEST, "protocol", "smoke", "not a protocol tfcompare knows"),
        (RequestResult, REQUEST, "phase", "later", "phase must be one of cold, warmup, measured"),
        (RequestResult, REQUEST, "top5", [["x"]], "entries must be [label, score]"),
        (RequestResult, REQUEST, "image", None, "a request image must be text"),
        (RequestResult, REQUEST, "model_version", 1.5, "model_version must be a whole number"),
        (Aggregate, AGGREGATE, "p50_ms", float("inf"), "an aggregate p50_ms must be a number"),
        (Aggregate, AGGREGATE, "n", 1.5, "an aggregate n must be a whole number"),
    ],
)
def test_crafted_values_are_refused_naming_the_field(cls, base, field, value, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        cls.from_dict({**base.to_dict(), field: value})


def test_a_missing_required_field_is_named():
    d = REQUEST.to_dict()
    del d["backend"]
    with pytest.raises(ValueError, match="a request has no backend"):
        RequestResult.from_dict(d)
