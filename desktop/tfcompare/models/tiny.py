"""``tiny``: a small, deterministic image-bytes classifier for tests and demos.

It decodes the image in the graph like real TF Serving image models, so decode cost, bad bytes and
image content all behave as they would with a real model, yet it builds in seconds. Weights come
from a fixed seed: every export gives the same answers. Spatial pooling (4×4 grid) keeps layout
information, so a rotated or heavily degraded image gets a different answer.

Three output conventions of the same network (see ``tfcompare.models``): ``tiny`` (strings +
softmax top-5), ``tiny-ids`` (1001-class int64 ids + full probabilities), ``tiny-logits`` (full
logits only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfcompare.models.common import decode_batch, imagenet_names, save

SIZE = 64
SEED = 20180419
NUM_CLASSES = 1000
TOP_K = 5


class TinyNet(tf.Module):
    """Two strided convolutions, 4×4 average pooling, one dense layer → 1000 logits."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(SEED)

        def var(shape: tuple[int, ...], scale: float) -> tf.Variable:
            return tf.Variable(rng.normal(0.0, scale, shape).astype(np.float32), trainable=False)

        self.conv1 = var((3, 3, 3, 16), (2.0 / 27) ** 0.5)
        self.bias1 = var((16,), 0.1)
        self.conv2 = var((3, 3, 16, 32), (2.0 / 144) ** 0.5)
        self.bias2 = var((32,), 0.1)
        self.dense = var((4 * 4 * 32, NUM_CLASSES), 6.0 / (4 * 4 * 32) ** 0.5)
        self.dense_bias = var((NUM_CLASSES,), 0.5)

    def logits(self, images: tf.Tensor) -> tf.Tensor:
        x = decode_batch(images, SIZE) * 2.0 - 1.0
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv1, 2, "SAME") + self.bias1)
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv2, 2, "SAME") + self.bias2)
        x = tf.nn.avg_pool2d(x, SIZE // 4 // 4, SIZE // 4 // 4, "VALID")  # 16×16 → 4×4
        # Centre each channel over the grid: the answer depends on layout, not overall brightness,
        # so different photos get different classes instead of one class winning everywhere.
        x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        x = tf.reshape(x, [-1, 4 * 4 * 32])
        x = (x - tf.reduce_mean(x, axis=1, keepdims=True)) / (
            tf.math.reduce_std(x, axis=1, keepdims=True) + 1e-6
        )
        return tf.matmul(x, self.dense) + self.dense_bias


def _images_spec(name: str = "images") -> tf.TensorSpec:
    return tf.TensorSpec([None], tf.string, name=name)


def export(out_base: Path, version: int = 1) -> Path:
    """Export ``tiny`` to ``out_base/<version>``: ``images`` → ``classes`` (names), ``scores`` (softmax)."""
    module = TinyNet()
    module.names = tf.constant(imagenet_names())

    @tf.function(input_signature=[_images_spec()])
    def predict(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = tf.nn.softmax(module.logits(images))
        top = tf.math.top_k(probs, TOP_K)
        return {"classes": tf.gather(module.names, top.indices), "scores": top.values}

    module.predict = predict
    return save(
        module,
        Path(out_base) / str(version),
        {"serving_default": predict, "predict_images": predict},
    )


def export_ids(out_base: Path, version: int = 1) -> Path:
    """Export ``tiny-ids``: ``image_bytes`` → ``classes`` (int64 ids, 0 = background), ``probabilities`` [N,1001]."""
    module = TinyNet()

    @tf.function(input_signature=[_images_spec("image_bytes")])
    def predict(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = module.logits(image_bytes)
        background = tf.fill([tf.shape(logits)[0], 1], tf.constant(-30.0))
        probs = tf.nn.softmax(tf.concat([background, logits], axis=1))
        top = tf.math.top_k(probs, TOP_K)
        return {"classes": tf.cast(top.indices, tf.int64), "probabilities": probs}

    module.predict = predict
    return save(module, Path(out_base) / str(version), {"serving_default": predict})


def export_logits(out_base: Path, version: int = 1) -> Path:
    """Export ``tiny-logits``: ``images`` → ``logits`` [N,1000] (no top-k, not probabilities)."""
    module = TinyNet()

    @tf.function(input_signature=[_images_spec()])
    def predict(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"logits": module.logits(images)}

    module.predict = predict
    return save(module, Path(out_base) / str(version), {"serving_default": predict})
