"""Build the tests' classifier (``classifier.py``) for every server (runs TensorFlow + Keras 3).

    python tests/oip_models/build_classifier.py OUT_DIR

writes ``OUT_DIR/classifier.npz`` (the weights MLServer's and KServe's runtimes load) and
``OUT_DIR/tfs/1/`` (the same network as a Keras SavedModel, exported with
``keras.Model.export()`` for TF Serving / ``tfcompare serve``: input ``image`` float32
[-1, 32, 32, 3], output ``probabilities`` [-1, 1000]), then checks that Keras and the NumPy
network agree, and prints ``BUILT OUT_DIR``. A directory already built is left as it is. Run as
a subprocess: the pytest process never imports TensorFlow.
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
from classifier import (  # noqa: E402
    CLASSES,
    HIDDEN,
    INPUT,
    OUTPUT,
    SIZE,
    forward,
    make_weights,
    save_weights,
)


def build(out: Path) -> None:
    import keras

    weights = make_weights()
    layers = keras.layers
    image = keras.Input((SIZE, SIZE, 3), dtype="float32", name=INPUT)
    x = layers.AveragePooling2D(4)(image)
    x = layers.Flatten()(x)
    hidden = layers.Dense(HIDDEN, activation="relu")
    x = hidden(x)
    dense = layers.Dense(CLASSES)
    probabilities = layers.Softmax()(dense(x))
    model = keras.Model(image, {OUTPUT: probabilities})
    hidden.set_weights([weights["w1"], weights["b1"]])
    dense.set_weights([weights["w2"], weights["b2"]])
    probe = np.random.default_rng(1).uniform(-1, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    keras_answer = np.asarray(model(probe)[OUTPUT])
    numpy_answer = forward(weights, probe)
    if not np.allclose(keras_answer, numpy_answer, atol=1e-5):
        raise SystemExit("Keras and NumPy answer differently: classifier.py and this build differ")
    save_weights(out / "classifier.npz", weights)
    model.export(str(out / "tfs" / "1"), verbose=False)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: build_classifier.py OUT_DIR")
        return 2
    out = Path(argv[0])
    if (
        not (out / "tfs" / "1" / "saved_model.pb").is_file()
        or not (out / "classifier.npz").is_file()
    ):
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
        try:
            build(staging)
            shutil.rmtree(out, ignore_errors=True)
            staging.rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"BUILT {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
