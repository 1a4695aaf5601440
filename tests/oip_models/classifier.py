"""The tests' small image classifier, in NumPy: the same network TF Serving serves as a Keras
SavedModel (``build_classifier.py``) and MLServer / KServe serve from the same weights
(``mlserver_runtime.py``, ``kserve_server.py``), so a TF Serving vs MLServer comparison agrees
on the top-5.

Input ``image``: float32 [-1, 32, 32, 3] (NHWC), values −1…1 (``tf`` scaling: x / 127.5 − 1).
Network: 4 × 4 average pooling (an 8 × 8 grid keeps the picture's layout), flatten (192),
dense 64 + ReLU, dense 1000, softmax → ``probabilities`` [-1, 1000]. The first layer's weights
have zero mean over their inputs, so brightness alone does not decide the class. Weights come
from NumPy's generator seeded with ``SEED``: every build answers alike.

Imports NumPy (and Pillow for :func:`preprocess`) only: it runs in the servers' own virtual
environments and in the pytest process alike, never TensorFlow.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

SEED = 20260420
SIZE = 32
HIDDEN = 64
CLASSES = 1000
INPUT, OUTPUT = "image", "probabilities"
BYTES_INPUT = "image_bytes"


def make_weights(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = (SIZE // 4) * (SIZE // 4) * 3
    w1 = rng.normal(0.0, np.sqrt(2.0 / features), (features, HIDDEN))
    w1 -= w1.mean(axis=0, keepdims=True)  # brightness alone moves no hidden unit
    return {
        "w1": w1.astype(np.float32),
        "b1": rng.normal(0.0, 0.1, HIDDEN).astype(np.float32),
        "w2": rng.normal(0.0, 6.0 / np.sqrt(HIDDEN), (HIDDEN, CLASSES)).astype(np.float32),
        "b2": rng.normal(0.0, 0.1, CLASSES).astype(np.float32),
    }


def save_weights(path: Path, weights: dict[str, np.ndarray] | None = None) -> Path:
    np.savez(path, **(weights or make_weights()))
    return Path(path)


def load_weights(path: Path | str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in ("w1", "b1", "w2", "b2")}


def forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """[N, 32, 32, 3] float32 → [N, 1000] probabilities."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(f"expected [N, {SIZE}, {SIZE}, 3], got {list(x.shape)}")
    n = x.shape[0]
    pooled = x.reshape(n, SIZE // 4, 4, SIZE // 4, 4, 3).mean(axis=(2, 4), dtype=np.float32)
    h = np.maximum(pooled.reshape(n, -1) @ weights["w1"] + weights["b1"], 0.0)
    logits = h @ weights["w2"] + weights["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def preprocess(encoded: bytes) -> np.ndarray:
    """An encoded image → [1, 32, 32, 3] as tfcompare's ``tf`` preset makes it (a JPEG decoded
    with libjpeg's DCT scaling down to no less than twice the model's size, upright, RGB,
    resized with Pillow's bicubic filter, x / 127.5 − 1)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(encoded)) as im:
        if im.format == "JPEG":
            im.draft(im.mode, (SIZE * 2, SIZE * 2))
        im = ImageOps.exif_transpose(im).convert("RGB")
        if im.size != (SIZE, SIZE):
            im = im.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        pixels = np.asarray(im, dtype=np.float32)
    x = pixels * np.float32(1 / 127.5) - np.float32(1)
    return np.ascontiguousarray(x[None])
