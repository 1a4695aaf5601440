"""Turn a model's Predict outputs into a top-5 with labels, and say whether scores are
probabilities or logits.

Models differ: the 2018 Inception export answers ``classes`` (strings) + ``scores`` (top-5 logits);
Keras-style models answer one full probability vector; others give integer class ids. Outputs are
found by name first (classes/labels/ids, scores/probabilities/logits/predictions) and by dtype and
shape otherwise. Works on numpy arrays so gRPC and REST share it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from tfcompare.serving.answers import Prediction, ScoreKind
from tfcompare.serving.labels import ClassNames, imagenet

TOP_K = 5
_CLASS_NAMES = re.compile(r"class|label|ids?$|indices|top_?k_?ind", re.I)
# Preference among float outputs, best first; anything else float comes after.
_SCORE_ORDER = (
    "probabilities",
    "probs",
    "prob",
    "softmax",
    "scores",
    "score",
    "predictions",
    "logits",
    "output",
)


def _squeeze_batch(arr: np.ndarray) -> np.ndarray:
    """Batch of one → its row; a scalar → a 1-element vector."""
    arr = np.asarray(arr)
    while arr.ndim > 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim > 1:  # e.g. [N, k] with N > 1: we sent one image, take the first row
        arr = arr.reshape(arr.shape[0], -1)[0]
    return arr.reshape(-1)


def _not_a_vector(shape: tuple[int, ...]) -> bool:
    """A shape with more than one dimension above 1 once a leading batch of one is dropped
    (a feature map [1, 7, 7, 10], or a batch of many answers)."""
    dims = list(shape)
    while len(dims) > 1 and dims[0] == 1:
        dims = dims[1:]
    return sum(d > 1 for d in dims) > 1


def _is_float(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "f"


def _is_class(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "iuOSU"


def _score_rank(name: str) -> int:
    low = name.lower()
    for i, key in enumerate(_SCORE_ORDER):
        if key in low:
            return i
    return len(_SCORE_ORDER)


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def score_kind(scores: np.ndarray, full: bool) -> ScoreKind:
    """probability: all in [0,1] and (full vector) sums to ~1 or (top-k) sums to ≤ ~1;
    logit: any value negative or above 1; otherwise unknown."""
    if scores.size == 0:
        return "unknown"
    # NaN propagates through min and max: both finite means all finite
    return _kind(
        float(scores.min()), float(scores.max()), float(scores.sum(dtype=np.float64)), full=full
    )


def _kind(lo: float, hi: float, total: float, *, full: bool) -> ScoreKind:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "unknown"
    if lo < -1e-6 or hi > 1 + 1e-6:
        return "logit"
    if full:
        return "probability" if abs(total - 1.0) <= 0.01 else "unknown"
    return "probability" if total <= 1.0 + 0.01 else "unknown"


def _labels(
    classes: Sequence | np.ndarray,
    num_classes: int | None,
    *,
    ids: bool,
    names: ClassNames | None = None,
) -> list[str]:
    """Labels for classes given as ids (``ids``) or as names (bytes/str; all-digit names are
    ids), named from ``names`` (ImageNet's by default)."""
    names = names or imagenet()
    if ids:
        numbers = [int(c) for c in classes]
        if num_classes is None and numbers and max(numbers) >= len(names.names):
            num_classes = len(names.names) + 1  # one id past the names: a background class at 0
        return [names.label(i, num_classes) for i in numbers]
    texts = [_decode(c) for c in classes]
    if texts and all(n.isdigit() for n in texts):  # ids sent as strings
        return _labels([int(n) for n in texts], num_classes, ids=True, names=names)
    return texts


def top5_of_pair(
    classes: Sequence, scores: Sequence[float], *, ids: bool, names: ClassNames | None = None
) -> tuple[tuple[Prediction, ...], ScoreKind] | None:
    """``top5()`` for the commonest answer, a model's own top-k: one class output (``ids`` when
    its values are class ids) beside one score output of the same length, at most 2 × TOP_K, both
    as plain lists. Same result as ``top5()`` without numpy: the client reads every answer right
    after waiting for it, when numpy's code is out of the CPU caches and each call costs 5–7× its
    warm time. None when the answer is not that (empty, longer, or a score not finite)."""
    n = len(scores)
    if not 0 < n <= TOP_K * 2 or len(classes) != n or not all(map(math.isfinite, scores)):
        return None
    order = sorted(range(n), key=lambda i: -scores[i])[:TOP_K]  # stable, like argsort's
    labels = _labels([classes[i] for i in order], None, ids=ids, names=names)
    kind = _kind(min(scores), max(scores), sum(scores), full=False)
    return tuple(
        Prediction(lb, float(scores[i])) for lb, i in zip(labels, order, strict=True)
    ), kind


def _top5_of_vector(
    arr: np.ndarray, names: ClassNames | None
) -> tuple[tuple[Prediction, ...], ScoreKind] | None:
    """``top5()`` for the commonest answer of Open Inference Protocol classifiers and Keras
    models: one finite score vector ([N] or [1, N], N > 2 × TOP_K), index = class id. Five
    ``argmax`` calls instead of sorting the vector (each first index of the highest left, which
    is the stable sort's order): a few microseconds where a sort of 1000 takes tens. None for any
    other answer (read by the general path)."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        return None
    if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[0] == 1)):
        return None
    if arr.size <= TOP_K * 2:
        return None
    work = arr.reshape(-1).astype(np.float64)  # a copy: ranked items are struck out below
    total = float(work.sum())
    if not math.isfinite(total):  # a NaN or an infinity in it: the general path ranks them
        return None
    lo = float(work.min())
    order = []
    for _ in range(TOP_K):
        i = int(work.argmax())
        order.append((i, float(work[i])))
        work[i] = -np.inf
    kind = _kind(lo, order[0][1], total, full=True)
    labels = _labels([i for i, _ in order], arr.size, ids=True, names=names)
    return tuple(Prediction(lb, score) for lb, (_, score) in zip(labels, order, strict=True)), kind


def top5(
    outputs: Mapping[str, np.ndarray], names: ClassNames | None = None
) -> tuple[tuple[Prediction, ...], ScoreKind]:
    """Best five (label, score), highest first, and the kind of score.

    Raises ValueError naming the outputs when no class scores can be found.
    """
    if len(outputs) == 1:
        found = _top5_of_vector(next(iter(outputs.values())), names)
        if found is not None:
            return found
    shapes = {k: np.shape(v) for k, v in outputs.items()}
    maps = [k for k, s in shapes.items() if _not_a_vector(s)]
    arrays = {k: _squeeze_batch(v) for k, v in outputs.items() if k not in maps}
    if maps and not any(_is_float(a) and a.size for a in arrays.values()):
        described = ", ".join(f"{k} {list(shapes[k])}" for k in maps)
        raise ValueError(
            f"the model answers {described}: not one score per class (a classifier answers a "
            "vector of scores, or classes with scores)"
        )
    floats = sorted(
        (k for k, a in arrays.items() if _is_float(a) and a.size), key=lambda k: (_score_rank(k), k)
    )
    class_keys = sorted(
        (k for k, a in arrays.items() if _is_class(a) and a.size),
        key=lambda k: (0 if _CLASS_NAMES.search(k) else 1, k),
    )
    if not floats:
        described = ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in arrays.items()) or "none"
        raise ValueError(f"the model's outputs have no scores to rank (outputs: {described})")

    # 1. classes paired with a score vector of the same length (top-k, or all class names).
    for ck in class_keys:
        classes = arrays[ck]
        partner = next((f for f in floats if arrays[f].size == classes.size), None)
        if partner is None:
            continue
        scores = arrays[partner].astype(np.float64)
        full = scores.size > TOP_K * 2  # a whole vector with one name per class
        # Full vector beside it (e.g. probabilities next to top-k ids) tells the class count.
        vector = max((arrays[f].size for f in floats), default=0)
        num_classes = vector if vector > classes.size else None
        order = np.argsort(-scores, kind="stable")[:TOP_K]
        labels = _labels(classes[order], num_classes, ids=classes.dtype.kind in "iu", names=names)
        kind = score_kind(scores, full=full)
        return tuple(
            Prediction(lb, float(scores[i])) for lb, i in zip(labels, order, strict=True)
        ), kind

    # 2. a full score vector: rank client-side, index = class id.
    key = floats[0]
    if len(floats) > 1 and arrays[key].size <= TOP_K:  # prefer a real vector over a tiny one
        key = max(floats, key=lambda k: arrays[k].size)
    scores = arrays[key].astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:TOP_K]
    labels = _labels(order.tolist(), scores.size, ids=True, names=names)
    kind = score_kind(scores, full=scores.size > TOP_K)
    return tuple(
        Prediction(lb, float(scores[i])) for lb, i in zip(labels, order, strict=True)
    ), kind
