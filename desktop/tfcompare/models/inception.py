"""``inception-v3``: Keras InceptionV3 in the signature of TF Serving's original Inception example.

The 2018 example (tensorflow_serving/example/inception_saved_model.py) exported ``predict_images``:
input ``images`` (DT_STRING, encoded image), outputs ``classes`` (top-5 class names) and ``scores``
(the top-5 **logits**, not probabilities), with preprocessing decode → central crop 87.5 % →
bilinear resize 299×299 → scale to [-1, 1]. This export keeps all of that (decoding any of
JPEG/PNG/GIF/BMP instead of JPEG only) and serves the same function as ``serving_default``.

ImageNet weights are downloaded by Keras on first use (network access needed, ~92 MB, cached in
``~/.keras/models``); ``random_weights=True`` builds the same graph without network, for tests.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from tfcompare.models import ModelError
from tfcompare.models.common import imagenet_names

SIZE = 299
TOP_K = 5


def _preprocess(data: tf.Tensor) -> tf.Tensor:
    image = tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)
    image = tf.image.central_crop(image, central_fraction=0.875)
    image = tf.image.resize(image, [SIZE, SIZE], method="bilinear")
    image = (image - 0.5) * 2.0
    return tf.ensure_shape(image, [SIZE, SIZE, 3])


def export(out_base: Path, version: int = 1, *, random_weights: bool = False) -> Path:
    """Export to ``out_base/<version>`` (``random_weights`` skips the ImageNet weight download)."""
    import keras

    keras.utils.set_random_seed(2018)
    try:
        net = keras.applications.InceptionV3(
            weights=None if random_weights else "imagenet", classifier_activation=None
        )
    except Exception as exc:  # Keras raises plain Exception for a failed download
        raise ModelError(
            "could not get the InceptionV3 ImageNet weights (Keras downloads them, which needs "
            f"network access): {exc}. Use --random-weights to build without them."
        ) from exc
    names = tf.constant(imagenet_names())

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def predict_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = tf.map_fn(
            _preprocess, images, fn_output_signature=tf.TensorSpec([SIZE, SIZE, 3], tf.float32)
        )
        logits = net(batch, training=False)
        top = tf.math.top_k(logits, TOP_K)
        return {"classes": tf.gather(names, top.indices), "scores": top.values}

    # Keras's own exporter: a Keras 3 model saved inside a tf.Module loads in TensorFlow 2's
    # Python loader, but its graph reads variables the SavedModel's restore never fills, so TF
    # Serving (which runs the graph in a session) answers every Predict with "Could not find
    # variable …" (tensorflow/serving#2250). ExportArchive saves the variables the graph reads.
    archive = keras.export.ExportArchive()
    archive.track(net)
    archive.add_endpoint("predict_images", predict_images)
    archive.add_endpoint("serving_default", predict_images)
    out_dir = Path(out_base) / str(version)
    archive.write_out(str(out_dir), verbose=False)
    return out_dir
