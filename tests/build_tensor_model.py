"""Build the tensor-input test classifiers of tests/tensor_models.py (runs TensorFlow + Keras 3).

    python tests/build_tensor_model.py OUT_ROOT KIND [KIND ...]

writes each KIND as a TF Serving model base path ``OUT_ROOT/KIND/1/`` with Keras 3's own
``keras.Model.export()`` (signatures ``serving_default`` and ``serve``) and prints one line
``BUILT KIND PATH`` per model. A kind already built is left as it is. Run as a subprocess: the
pytest process never imports TensorFlow (tests/tensor_models.py starts this script). What each
kind takes and answers is described in tests/tensor_models.py (``KINDS``); the weights come from
NumPy's seeded generator, so every build gives the same answers.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from tensor_models import KINDS, SEED, TensorKind  # noqa: E402


def _weights(model, rng: np.random.Generator, dense_scale: float) -> None:
    """Seeded weights for every layer (He-style for convolutions; wide dense weights so the
    answer is decided by the image, not by one class's bias)."""
    import keras

    for layer in model.layers:
        values = layer.get_weights()
        if not values:
            continue
        kernel = values[0]
        if isinstance(layer, keras.layers.Dense):
            kernel = rng.normal(0.0, dense_scale / np.sqrt(kernel.shape[0]), kernel.shape)
        else:
            kernel = rng.normal(0.0, np.sqrt(2.0 / np.prod(kernel.shape[:-1])), kernel.shape)
        bias = rng.normal(0.0, 0.1, values[1].shape)
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])


def build(spec: TensorKind, out_dir: Path) -> None:
    import keras

    keras.backend.clear_session()  # the default input name ("keras_tensor") is counted per session
    layers, ops = keras.layers, keras.ops
    size = spec.size
    if spec.layout == "NCHW":
        shape = (spec.channels, size, size)
    else:
        shape = (size, size, spec.channels)
    names = [spec.input_key] if spec.inputs == 1 else list(spec.input_keys)
    inputs = [
        keras.Input(shape, dtype=spec.dtype, name=None if key == "keras_tensor" else key)
        for key in names
    ]

    def body(x):
        if spec.dtype != "float32":
            x = layers.Lambda(lambda t: ops.cast(t, "float32"), name=f"cast_{x.name}")(x)
        if spec.dtype == "uint8":  # raw 0…255 in, the network's −1…1 inside
            x = layers.Rescaling(1 / 127.5, offset=-1.0)(x)
        if spec.layout == "NCHW":
            x = layers.Permute((2, 3, 1))(x)  # a converted PyTorch model's NCHW → NHWC
        x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2D(24, 3, strides=2, padding="same", activation="relu")(x)
        return x

    features = [body(x) for x in inputs]
    x = features[0] if len(features) == 1 else layers.Concatenate()(features)
    if spec.kind == "feature-map":
        x = layers.AveragePooling2D(2)(x)  # 8 × 8 → 4 × 4
        out = layers.Conv2D(spec.classes, 1)(x)
    elif spec.size is None:  # any height and width: global pooling
        centred = layers.Lambda(lambda t: t - ops.mean(t, axis=(1, 2), keepdims=True))(x)
        negated = layers.Lambda(lambda t: -t)(centred)
        pooled = [
            layers.GlobalAveragePooling2D()(x),
            layers.GlobalMaxPooling2D()(centred),
            layers.GlobalMaxPooling2D()(negated),
        ]
        x = layers.Concatenate()(pooled)
        # standardised across the features: no class wins on the features' common level
        x = layers.Lambda(
            lambda t: (
                (t - ops.mean(t, axis=1, keepdims=True))
                / (ops.std(t, axis=1, keepdims=True) + 1e-6)
            )
        )(x)
        out = layers.Dense(spec.classes)(x)
    else:
        x = layers.AveragePooling2D(size // 16)(x)  # → a 4 × 4 grid: the layout counts
        # centre each channel over the grid: the answer follows the picture, not its brightness
        x = layers.Lambda(lambda t: t - ops.mean(t, axis=(1, 2), keepdims=True))(x)
        x = layers.Flatten()(x)
        out = layers.Dense(spec.classes)(x)
    if spec.output_kind == "softmax":
        out = layers.Softmax()(out)
    model = keras.Model(
        inputs if len(inputs) > 1 else inputs[0],
        out if spec.output_key == "output_0" else {spec.output_key: out},
    )
    rng = np.random.default_rng([SEED, sorted(KINDS).index(spec.weights or spec.kind)])
    _weights(model, rng, dense_scale=6.0)
    model.export(str(out_dir), verbose=False)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any(k not in KINDS for k in argv[1:]):
        print(f"usage: build_tensor_model.py OUT_ROOT KIND...  (kinds: {', '.join(KINDS)})")
        return 2
    root = Path(argv[0])
    for kind in argv[1:]:
        base = root / kind
        target = base / "1"
        if not (target / "saved_model.pb").is_file():
            base.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
            try:
                build(KINDS[kind], staging / "model")
                (staging / "model").rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        print(f"BUILT {kind} {base}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
