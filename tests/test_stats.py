"""Aggregates and quality measures, on hand-built request results."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hand_requests import CAT, req

from tfcompare.runner.aggregates import aggregate, percentile, quality
from tfcompare.serving.answers import Prediction


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy(q):
    values = sorted(np.random.default_rng(q).gamma(2.0, 10.0, size=37).tolist())
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_quality_against_original():
    variant = [
        ("tabby", 0.72),
        ("Egyptian cat", 0.1),
        ("tiger cat", 0.1),
        ("dog", 0.05),
        ("cup", 0.01),
    ]
    agree, overlap, ratio = quality(
        [Prediction(*p) for p in variant], [Prediction(*p) for p in CAT]
    )
    assert agree is True
    assert overlap == pytest.approx(3 / 5)
    assert ratio == pytest.approx(0.72 / 0.6)  # can exceed 100 %, as in the original experiment


def test_quality_when_original_class_drops_out():
    variant = [Prediction("dog", 0.9)]
    agree, overlap, ratio = quality(variant, [Prediction(*p) for p in CAT])
    assert agree is False and overlap == 0 and ratio is None


def test_aggregate_per_image_variant_backend():
    reqs = [req("original", ms, CAT, repeat=i) for i, ms in enumerate([10.0, 12.0, 11.0])]
    reqs += [
        req("512-jpeg", ms, [("tabby", 0.3), ("lynx", 0.2)], repeat=i)
        for i, ms in enumerate([5.0, 7.0])
    ]
    reqs.append(req("512-jpeg", None, [], ok=False, repeat=2))
    reqs.append(req("original", 900.0, CAT, phase="cold"))  # never part of statistics
    aggs = {a.variant: a for a in aggregate(reqs)}
    orig, small = aggs["original"], aggs["512-jpeg"]
    assert orig.n == 3 and orig.n_errors == 0
    assert orig.p50_ms == 11.0 and orig.mean_ms == pytest.approx(11.0)
    assert orig.stdev_ms == pytest.approx(statistics.stdev([10.0, 12.0, 11.0]))
    assert orig.top1_agree is True and orig.score_ratio == pytest.approx(1.0)
    assert orig.few_samples
    assert small.n == 2 and small.n_errors == 1
    assert small.top1 == "tabby" and small.top1_agree is True
    assert small.top5_overlap == pytest.approx(2 / 5)
    assert small.score_ratio == pytest.approx(0.5)


def test_quality_is_per_backend():
    other = [("goldfish", 0.9)]
    reqs = [
        req("original", 10.0, CAT, backend="a"),
        req("original", 10.0, other, backend="b"),
        req("256-png", 3.0, other, backend="a"),
        req("256-png", 3.0, other, backend="b"),
    ]
    aggs = {(a.variant, a.backend): a for a in aggregate(reqs)}
    assert aggs[("256-png", "a")].top1_agree is False
    assert aggs[("256-png", "b")].top1_agree is True
