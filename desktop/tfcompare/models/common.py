"""Pieces shared by the model exporters: ImageNet names, in-graph image decoding, saving."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import tensorflow as tf


def imagenet_names() -> list[str]:
    """The 1000 ImageNet class names shipped in ``resources/imagenet_labels.txt``.

    Falls back to ``class_0`` … ``class_999`` when the file is missing, so exports still work in a
    stripped-down checkout; the names are baked into the exported graph.
    """
    try:
        text = (resources.files("tfcompare.resources") / "imagenet_labels.txt").read_text("utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        text = ""
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != 1000:
        names = [f"class_{i}" for i in range(1000)]
    return names


def decode_batch(images: tf.Tensor, size: int) -> tf.Tensor:
    """Decode a [N] batch of encoded images (JPEG/PNG/GIF/BMP, first GIF frame) to float [N,size,size,3] in [0,1].

    Undecodable bytes raise InvalidArgumentError, which the server reports as INVALID_ARGUMENT,
    like TF Serving does for a graph that decodes in-graph.
    """

    def one(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)
        image = tf.image.resize(image, [size, size], antialias=True)
        return tf.ensure_shape(image, [size, size, 3])

    return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))


def save(module: tf.Module, out_dir: Path, signatures: dict) -> Path:
    """Write ``module`` as a SavedModel with the given signatures; returns ``out_dir``."""
    tf.saved_model.save(module, str(out_dir), signatures=signatures)
    return out_dir
