"""Findings on crafted numbers. Size vs time: a trend that one point overturns is "too noisy to
tell", and a point far from the line cannot make such a trend look firm. Resizing: a model taking
a fixed-size tensor is judged by the image files the client makes."""

from __future__ import annotations

from session_results import timed_result

from tfcompare.report import build_report

# Three images at four sizes, a small rise with size and noise of about 1 ms: the Theil–Sen line
# says "grows", but leaving out single points overturns that (a borderline trend).
BORDERLINE = {
    ("img0", 128): 19.9,
    ("img0", 256): 21.4,
    ("img0", 384): 21.4,
    ("img0", 512): 21.5,
    ("img1", 128): 20.2,
    ("img1", 256): 20.3,
    ("img1", 384): 20.5,
    ("img1", 512): 21.5,
    ("img2", 128): 19.4,
    ("img2", 256): 21.8,
    ("img2", 384): 22.0,
    ("img2", 512): 21.4,
}


def _size_time(times):
    finding = build_report(timed_result(times)).finding("size_time")
    return finding, finding.numbers["cpu"]


def test_a_borderline_trend_is_too_noisy_to_tell():
    finding, numbers = _size_time(BORDERLINE)
    assert numbers["trend_of_fit"] == "grows"
    assert numbers["trend"] == "unclear" and numbers["fragile_points"] >= 1
    assert (
        "cpu (JPEG, client latency (p50)): too noisy to tell — the growing trend is not firm"
        in (finding.verdict)
    )
    assert not finding.decided


def test_a_far_point_does_not_firm_up_a_borderline_trend():
    """One slow block at the largest size (9× its time) pulls the line up just enough that no
    single point overturns it any more; the verdict must still be the borderline data's, and
    the far point named."""
    planted = dict(BORDERLINE)
    planted[("img0", 512)] *= 9
    finding, numbers = _size_time(planted)
    assert {"image": "img0", "variant": "512-jpeg"} in [
        {k: o[k] for k in ("image", "variant")} for o in numbers["outliers"]
    ]
    assert numbers["trend_of_fit"] == "grows"
    assert numbers["trend"] == "unclear", finding.verdict
    assert "not firm: leaving out a single point besides those far from the line" in (
        finding.verdict
    )
    assert any("cpu: img0 at 512 px JPEG" in line for line in finding.details)


def test_a_clear_trend_with_a_far_point_stays_a_finding():
    """A strong rise (time doubles from the smallest to the largest size) keeps its verdict with
    one slow block in it: the far point is listed, not the trend withdrawn."""
    times = {
        (f"img{i}", box): 20 + 80 * box * box / 1e6 + 0.3 * ((i + box) % 3)
        for i in range(3)
        for box in (128, 256, 384, 512)
    }
    times[("img1", 384)] *= 6
    finding, numbers = _size_time(times)
    assert numbers["trend"] == "grows", finding.verdict
    assert "cpu (JPEG, client latency (p50)): grows with size" in finding.verdict
    assert {"image": "img1", "variant": "384-jpeg"} in [
        {k: o[k] for k in ("image", "variant")} for o in numbers["outliers"]
    ]


def test_resizing_for_a_fixed_size_tensor_model_counts_the_image_files():
    """Every variant reaches a fixed-size tensor model as the same bytes: the finding names the
    smallest variant that keeps the answer, with the image file it saves, and says the tensor on
    the wire is the same (not "no variant smaller than the original")."""
    from session_results import fixed_tensor_result

    finding = build_report(fixed_tensor_result()).finding("resizing")
    assert finding.numbers["tensor"]["smallest"] == "256-jpeg", finding.verdict
    assert finding.numbers["tensor"]["bytes_counted"] == "image file"
    assert finding.numbers["tensor"]["bytes_saved"] == 1 - 20_000 / 500_000
    assert (
        "tensor: 256 px JPEG keeps the top-1 class on 3 of 3 images — an image file 96.0 % "
        "smaller than the original, though every variant reaches this backend as the same "
        "588.0 KB tensor"
    ) in finding.verdict
    (table,) = finding.tables
    assert "every variant sends 588.0 KB" in table.caption
    passes = {row[0]: row[-1] for row in table.rows}
    assert passes == {"512 px JPEG": "yes", "256 px JPEG": "yes", "128 px JPEG": "no: top-1 < 95 %"}


def test_resizing_counts_a_variant_against_the_originals_of_its_own_images():
    """A 1024 px variant exists only for the large photo (a smaller image is never upscaled):
    its bytes and its time are compared with that photo's original, not with the average
    original of every image."""
    from session_results import ladder_result

    result = ladder_result(
        {
            "large.jpg": {
                "original": (2_000_000, 2_000_000, 80.0, "cat"),
                "1024-jpeg": (100_000, 100_000, 20.0, "cat"),
                "128-jpeg": (5_000, 5_000, 9.0, "dog"),
            },
            "small.jpg": {
                "original": (50_000, 50_000, 10.0, "cat"),
                "128-jpeg": (5_000, 5_000, 9.0, "dog"),
            },
        }
    )
    finding = build_report(result).finding("resizing")
    numbers = finding.numbers["b"]
    assert numbers["smallest"] == "1024-jpeg", finding.verdict
    assert numbers["bytes_saved"] == 1 - 100_000 / 2_000_000
    assert abs(numbers["latency_saved_ms"] - 60.0) < 1e-9
    assert (
        "b: 1024 px JPEG keeps the top-1 class on 1 of 1 images — 95.0 % fewer bytes than the "
        "original, p50 60.0 ms faster (20.1 vs 80.1 ms)"
    ) in finding.verdict
    (table,) = finding.tables
    row = next(r for r in table.rows if r[0] == "1024 px JPEG")
    assert row[5] == "95.0 %" and row[7] == "-60.0", row
