"""Client-side preprocessing: one encoded image variant → the tensor a tensor-input model takes.

Steps, in order: decode (upright per EXIF), RGB or grey, an optional centre crop, a resize to the
model's fixed size (a dynamic-size model keeps the variant's own size), value scaling by a named
preset, the model's layout (NHWC or NCHW) and dtype, and a batch dimension of one.

Scaling presets — nothing in a model's metadata says which one it wants, so the choice is the
user's (``auto`` tries each on the first image and keeps the most confident answer):

==========  ================================================================================
``raw``     0–255 as numbers (Keras models that include their own preprocessing; uint8 models)
``unit``    0–1 (x / 255)
``tf``      −1…1 (x / 127.5 − 1: Keras "tf" mode, Inception, MobileNet)
``caffe``   RGB → BGR, minus the ImageNet mean [103.939, 116.779, 123.68] (Keras "caffe": VGG,
            ResNet50)
``torch``   x / 255, minus mean [0.485, 0.456, 0.406], over std [0.229, 0.224, 0.225] (PyTorch /
            torchvision models, Keras "torch" mode)
==========  ================================================================================

Resizing uses Pillow's bicubic filter with antialiasing (what ``tf.image.resize(…, "bicubic",
antialias=True)`` does in a model's graph). A centre crop keeps ``crop`` of the largest region of
the model's aspect ratio (0.875 of a square photo's shorter side for 224×224: the classic
"resize 256, crop 224"); without one the whole image is resized to the model's size.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

AUTO = "auto"
RAW, UNIT, TF, CAFFE, TORCH = "raw", "unit", "tf", "caffe", "torch"
PRESETS = (RAW, UNIT, TF, CAFFE, TORCH)
DESCRIPTIONS = {
    RAW: "0–255 as they are",
    UNIT: "0–1 (x/255)",
    TF: "−1…1 (x/127.5 − 1; Inception, MobileNet)",
    CAFFE: "BGR minus the ImageNet mean (VGG, ResNet50)",
    TORCH: "ImageNet mean/std (PyTorch models)",
    AUTO: "try each on the first image, keep the most confident",
}
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESAMPLE = "BICUBIC"  # PIL.Image.Resampling member (Pillow loads on first use)
#: A JPEG larger than the model's input is DCT-scaled no further than this many times its size
#: before the bicubic resize (Pillow's own ``thumbnail`` uses a gap of 2 for the same purpose).
DRAFT_GAP = 2.0
# numpy dtypes a tensor input may have; integer inputs take the 0–255 values as they are
FLOAT_DTYPES = ("float32", "float16", "float64")
INT_DTYPES = ("uint8", "int32")
DTYPES = FLOAT_DTYPES + INT_DTYPES


def preset_names() -> tuple[str, ...]:
    """Every name a backend's ``preprocess`` may take (the presets and ``auto``)."""
    return (*PRESETS, AUTO)


def describe_preset(name: str) -> str:
    return f"{name}: {DESCRIPTIONS.get(name, '?')}"


@dataclass(frozen=True)
class TensorLayout:
    """The image input a model takes: ``dtype`` (numpy name), ``layout`` ``NHWC`` or ``NCHW``,
    ``channels`` 3 (RGB) or 1 (grey), ``height``/``width`` (None: any size, i.e. -1 in the
    model's shape)."""

    dtype: str
    layout: str
    channels: int
    height: int | None
    width: int | None

    @property
    def fixed(self) -> bool:
        return self.height is not None and self.width is not None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of a fixed size; None for any size."""
        if self.width is None or self.height is None:
            return None
        return int(self.width), int(self.height)

    def describe(self) -> str:
        """``float32 224×224×3 NHWC`` / ``uint8 any size×3 NHWC`` / ``float32 3×224×224 NCHW``."""
        h = str(self.height) if self.height is not None else "H"
        w = str(self.width) if self.width is not None else "W"
        size = f"{h}×{w}" if self.fixed else f"any size ({h}×{w})"
        c = str(self.channels)
        dims = f"{c}×{size}" if self.layout == "NCHW" else f"{size}×{c}"
        return f"{self.dtype} {dims} {self.layout}"


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model's tensor: a scaling ``preset`` (not ``auto``: that is chosen
    before anything is sent) and an optional centre ``crop`` fraction."""

    preset: str = RAW
    crop: float | None = None

    def describe(self) -> str:
        crop = f", centre crop {self.crop:g}" if self.crop else ""
        return f"{self.preset}{crop}"


def default_preset(layout: TensorLayout) -> str:
    """The preset used when the user chose none: ``raw`` for integer inputs (0–255 is the only
    sensible meaning), else ``auto``."""
    return RAW if layout.dtype in INT_DTYPES else AUTO


def presets_for(layout: TensorLayout) -> tuple[str, ...]:
    """The presets that make sense for an input (an integer input takes raw values only)."""
    return (RAW,) if layout.dtype in INT_DTYPES else PRESETS


def decoded(data: bytes, at_least: tuple[int, int] | None = None) -> Image.Image:
    """An encoded image decoded upright, as 8-bit RGB or grey (``L``); ImageLoadError if not.

    ``at_least`` (width, height): a JPEG is decoded with libjpeg's DCT scaling to the smallest
    scale that keeps ``DRAFT_GAP`` times that size (a 4032×3024 photo for a 224×224 model decodes
    at 1/8 scale, ~8× quicker); the resize that follows still antialiases from there."""
    from .loading import _DECODE_ERRORS, decode, exif_orientation, open_image, to_rgb, upright

    try:
        im, fmt = open_image(io.BytesIO(data))
        orientation = exif_orientation(im)
        if at_least is not None and fmt == "jpeg":
            w, h = at_least
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            im.draft(im.mode, (int(w * DRAFT_GAP), int(h * DRAFT_GAP)))
        decode(im)
        if im.mode not in ("RGB", "L"):
            im = to_rgb(im, [])
        return upright(im, orientation)
    except ImageLoadError:
        raise
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(f"cannot decode the image for the model's tensor: {exc}") from None


def _crop_box(width: int, height: int, aspect: float, crop: float) -> tuple[int, int, int, int]:
    """The centred box of ``aspect`` (w/h) covering ``crop`` of the largest such region."""
    if width / height > aspect:  # wider than wanted: the height limits
        box_h = height * crop
        box_w = box_h * aspect
    else:
        box_w = width * crop
        box_h = box_w / aspect
    left = (width - box_w) / 2
    top = (height - box_h) / 2
    return (round(left), round(top), round(left + box_w), round(top + box_h))


def _scaled(pixels: np.ndarray, preset: str, dtype: str) -> np.ndarray:
    """uint8 H×W×C pixels → the preset's values in ``dtype`` (channels last, as given)."""
    if dtype in INT_DTYPES:
        if preset != RAW:
            raise ValueError(f"a {dtype} input takes raw 0–255 values, not the {preset!r} preset")
        return pixels.astype(dtype, copy=False)
    x = pixels.astype(np.float32)
    if preset == UNIT:
        x *= np.float32(1 / 255)
    elif preset == TF:
        x *= np.float32(1 / 127.5)
        x -= np.float32(1)
    elif preset == CAFFE:
        if x.shape[-1] == 3:
            x = x[..., ::-1]
            x = x - _CAFFE_MEAN_BGR
        else:
            x -= np.float32(_CAFFE_MEAN_BGR.mean())
    elif preset == TORCH:
        if x.shape[-1] == 3:
            x *= np.float32(1 / 255) / _TORCH_STD
            x -= _TORCH_MEAN / _TORCH_STD
        else:
            x *= np.float32(1 / (255 * _TORCH_STD.mean()))
            x -= np.float32(_TORCH_MEAN.mean() / _TORCH_STD.mean())
    elif preset != RAW:
        raise ValueError(f"unknown preprocessing preset {preset!r}")
    return x if dtype == "float32" else x.astype(dtype)


def to_tensor(
    image: bytes | Image.Image, layout: TensorLayout, preprocessing: Preprocessing
) -> tuple[np.ndarray, float]:
    """The batch-of-one tensor for ``image`` (an encoded file or a decoded image) and the
    milliseconds it took (this thread's CPU time is not used: the wall time of the steps, so it
    can be set beside latency). Raises ImageLoadError (undecodable) or ValueError (a preset that
    does not fit the input)."""
    t0 = time.perf_counter()
    size = layout.size
    if isinstance(image, (bytes, bytearray, memoryview)):
        target = None
        if size is not None and not preprocessing.crop:
            target = size
        elif size is not None and preprocessing.crop:
            side = max(size) / preprocessing.crop
            target = (int(side), int(side))
        im = decoded(bytes(image), target)
    else:
        im = image
    mode = "L" if layout.channels == 1 else "RGB"
    if im.mode != mode:
        im = im.convert(mode)
    width, height = im.size
    if size is not None:
        box = None
        if preprocessing.crop:
            box = _crop_box(width, height, size[0] / size[1], preprocessing.crop)
        if size != (width, height) or box is not None:
            from PIL import Image

            im = im.resize(size, Image.Resampling[RESAMPLE], box=box)
    elif preprocessing.crop:
        box = _crop_box(width, height, width / height, preprocessing.crop)
        im = im.crop(box)
    pixels = np.asarray(im)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    x = _scaled(pixels, preprocessing.preset, layout.dtype)
    if layout.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    out = np.ascontiguousarray(x[None])
    return out, (time.perf_counter() - t0) * 1000.0
