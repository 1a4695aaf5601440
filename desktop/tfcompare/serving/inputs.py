"""Input kinds: how an image variant goes on the wire, chosen from a model's metadata.

A model's inputs (TF Serving's signature, or Open Inference Protocol model metadata) are read
into :class:`TensorInfo` values with numpy-style dtype names (``string`` for encoded bytes); then
:func:`choose_input` picks the input kind that can fill them:

- :class:`EncodedImageInput` — one string (BYTES) input: the variant's encoded file is sent as it
  is and the server decodes it;
- :class:`ImageTensorInput` — one 4-D numeric input (NHWC or NCHW, 3 or 1 channels, fixed or any
  size): the client decodes, crops, resizes, scales and lays the image out
  (``tfcompare.imaging.preprocess``).

Each kind turns a variant into a :class:`RequestInput` — a typed value (key, dtype, shape, data)
that every protocol knows how to put on its wire. Adding an input kind is a class here plus its
place in ``INPUT_KINDS``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from tfcompare.imaging.preprocess import (
    DTYPES,
    FLOAT_DTYPES,
    Preprocessing,
    TensorLayout,
    default_preset,
    to_tensor,
)
from tfcompare.serving.answers import ServingError

STRING = "string"


@dataclass(frozen=True)
class TensorInfo:
    """One input or output as a model's metadata describes it: ``dtype`` as a numpy name
    (``float32``, ``uint8``…; ``string`` for strings/BYTES; an unreadable one as the server named
    it), ``shape`` with -1 for any size (None: unknown rank)."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        if self.shape is None:
            return f"{self.name} ({self.dtype}, any shape)"
        dims = ", ".join("?" if d < 0 else str(d) for d in self.shape)
        return f"{self.name} ({self.dtype} [{dims}])"


@dataclass(frozen=True)
class RequestInput:
    """What one request carries for one image: ``key`` (the model's input name), ``dtype``
    (``string`` or a numpy name) and ``shape``; ``data`` is the encoded file (string) or a
    C-contiguous array of that dtype and shape. ``preprocess_ms`` is what making it took on the
    client (decode, resize, scale), reported apart from latency."""

    key: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes | np.ndarray = field(repr=False)
    preprocess_ms: float = 0.0

    @property
    def is_string(self) -> bool:
        return self.dtype == STRING

    @property
    def array(self) -> np.ndarray:
        assert isinstance(self.data, np.ndarray)
        return self.data

    @property
    def encoded(self) -> bytes:
        """The encoded file of a string input."""
        assert isinstance(self.data, bytes)
        return self.data

    @property
    def nbytes(self) -> int:
        return len(self.data) if isinstance(self.data, bytes) else int(self.data.nbytes)


class InputKind(abc.ABC):
    """One way a variant goes on the wire; made by :func:`choose_input` from the metadata."""

    name: ClassVar[str]
    key: str

    @abc.abstractmethod
    def describe(self) -> str:
        """One phrase for a backend's status: ``takes encoded bytes``."""

    @abc.abstractmethod
    def make(self, encoded: bytes, preprocessing: Preprocessing | None = None) -> RequestInput:
        """The request value for one encoded image (a variant's file). Raises ImageLoadError
        when the image cannot be decoded (tensor inputs decode it)."""

    @property
    def needs_preprocessing(self) -> bool:
        return False

    @classmethod
    @abc.abstractmethod
    def match(cls, info: TensorInfo) -> InputKind | None:
        """This kind for ``info`` when it can fill it, else None."""


@dataclass(frozen=True)
class EncodedImageInput(InputKind):
    """A string input of one element: the encoded file, decoded by the server."""

    key: str
    name: ClassVar[str] = "encoded"

    def describe(self) -> str:
        return "takes encoded bytes"

    def make(self, encoded: bytes, preprocessing: Preprocessing | None = None) -> RequestInput:
        return RequestInput(self.key, STRING, (1,), encoded)

    @classmethod
    def match(cls, info: TensorInfo) -> EncodedImageInput | None:
        if info.dtype != STRING:
            return None
        if info.shape is not None and (len(info.shape) > 1 or any(d > 1 for d in info.shape)):
            return None  # e.g. a [2] or [1, 5] string input is not one image
        return cls(info.name)


@dataclass(frozen=True)
class ImageTensorInput(InputKind):
    """A 4-D numeric input holding a batch of images."""

    key: str
    layout: TensorLayout
    name: ClassVar[str] = "tensor"

    def describe(self) -> str:
        return f"takes {self.layout.describe()}"

    @property
    def needs_preprocessing(self) -> bool:
        return True

    def make(self, encoded: bytes, preprocessing: Preprocessing | None = None) -> RequestInput:
        preprocessing = preprocessing or Preprocessing()
        array, ms = to_tensor(encoded, self.layout, preprocessing)
        return RequestInput(self.key, self.layout.dtype, tuple(array.shape), array, ms)

    def default_preset(self) -> str:
        return default_preset(self.layout)

    @classmethod
    def match(cls, info: TensorInfo) -> ImageTensorInput | None:
        layout = image_layout(info)
        return cls(info.name, layout) if layout is not None else None


INPUT_KINDS: tuple[type[InputKind], ...] = (EncodedImageInput, ImageTensorInput)


def image_layout(info: TensorInfo) -> TensorLayout | None:
    """The image layout of a 4-D numeric input ([batch, H, W, C] or [batch, C, H, W] with C = 3
    or 1), or None when the input is not one."""
    if info.shape is None or len(info.shape) != 4 or info.dtype == STRING:
        return None
    _, a, b, c = info.shape
    if c in (1, 3):  # NHWC (preferred when both could fit, as TF models are channels-last)
        return TensorLayout(info.dtype, "NHWC", c, _dim(a), _dim(b))
    if a in (1, 3):
        return TensorLayout(info.dtype, "NCHW", a, _dim(b), _dim(c))
    if c < 0 and a < 0:  # nothing known: channels-last RGB, any size
        return TensorLayout(info.dtype, "NHWC", 3, _dim(a), _dim(b))
    return None


def _dim(d: int) -> int | None:
    return d if d > 0 else None


def choose_input(
    inputs: Sequence[TensorInfo], *, model: str, where: str = "signature"
) -> InputKind:
    """The input kind for a model (or signature) whose inputs are ``inputs``.

    Raises ServingError INVALID_ARGUMENT naming the inputs when none fits: several inputs, an
    input that is no image (and cannot be filled), two image-like inputs, or an unsupported dtype.
    """
    described = ", ".join(i.describe() for i in inputs) or "none"
    if not inputs:
        raise ServingError("INVALID_ARGUMENT", f"{where} of model '{model}' has no inputs")
    kinds = [(info, _match(info)) for info in inputs]
    images = [(info, kind) for info, kind in kinds if kind is not None]
    if len(images) > 1:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"{where} of model '{model}' has {len(images)} image-like inputs "
            f"({', '.join(sorted(i.name for i, _ in images))}): tfcompare sends one image per "
            "request",
        )
    others = [info for info, kind in kinds if kind is None]
    if images and others:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"{where} of model '{model}' also needs input(s) tfcompare cannot fill: "
            f"{', '.join(i.describe() for i in others)} (it sends only the image, "
            f"{images[0][0].name})",
        )
    if images:
        return images[0][1]
    bad_dtype = [i for i in inputs if image_layout(TensorInfo(i.name, "float32", i.shape))]
    if bad_dtype:
        info = bad_dtype[0]
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input {info.name} of model '{model}' is an image tensor of type {info.dtype}: "
            f"tfcompare sends {', '.join(DTYPES)} tensors (or encoded bytes)",
        )
    raise ServingError(
        "INVALID_ARGUMENT",
        f"no input of {where} of model '{model}' takes an image: it needs encoded bytes "
        f"(one string input) or a 4-D image tensor [batch, height, width, 3 or 1] / "
        f"[batch, 3 or 1, height, width]; it has {described}",
    )


def _match(info: TensorInfo) -> InputKind | None:
    if info.dtype != STRING and info.dtype not in DTYPES:
        return None
    for kind in INPUT_KINDS:
        found = kind.match(info)
        if found is not None:
            return found
    return None


_DECLARED_RE = re.compile(
    r"^(?:(?P<name>[A-Za-z_][A-Za-z0-9_./-]*):)??"
    r"(?P<kind>bytes|[a-z]+[0-9]*)"
    r"(?::(?P<dims>(?:\d+|\?)x(?:\d+|\?)x\d+))?"
    r"(?::(?P<layout>nhwc|nchw))?$"
)
MAX_DECLARED_SIDE = 8192
DECLARED_FORMS = "bytes or DTYPE:HxWxC[:nchw]"


def declared_input(text: str) -> tuple[TensorInfo, bool]:
    """The input a backend spec's ``input=`` option declares, for servers whose metadata does
    not say what the model takes: ``bytes`` (an encoded image), ``DTYPE:HxWxC`` (a tensor of
    height × width × channels, channels last; ``?`` for any height or width) or
    ``DTYPE:HxWxC:nchw`` (the same sizes, channels first), with an optional ``NAME:`` in front
    (the input's name). Returns the TensorInfo, batch dimension included, and whether a name was
    given. Raises ValueError naming the forms."""
    m = _DECLARED_RE.match(text.strip())
    kind = m["kind"] if m else None
    if m is None or (kind != "bytes" and (kind not in DTYPES or not m["dims"])):
        raise ValueError(
            f"input must be {DECLARED_FORMS} (DTYPE: {', '.join(DTYPES)}; ? for any height or "
            f"width; NAME: in front to name the input), e.g. float32:224x224x3, not {text!r}"
        )
    name = m["name"] or "input"
    if kind == "bytes":
        if m["dims"] or m["layout"]:
            raise ValueError(f"input=bytes takes no size or layout, not {text!r}")
        return TensorInfo(name, STRING, (-1,)), bool(m["name"])
    h, w, c = (-1 if d == "?" else int(d) for d in m["dims"].split("x"))
    if c not in (1, 3):
        raise ValueError(
            f"input {text!r}: the channels (the C of HxWxC) must be 3 or 1; sizes are written "
            "height x width x channels, with :nchw after them for a channels-first model"
        )
    if not all(d == -1 or 0 < d <= MAX_DECLARED_SIDE for d in (h, w)):
        raise ValueError(
            f"input {text!r}: height and width must be 1 to {MAX_DECLARED_SIDE} (or ? for any)"
        )
    shape = (-1, c, h, w) if m["layout"] == "nchw" else (-1, h, w, c)
    return TensorInfo(name, kind, shape), bool(m["name"])


def takes_image(inputs: Sequence[TensorInfo]) -> bool:
    """Whether :func:`choose_input` would accept these inputs."""
    try:
        choose_input(inputs, model="?")
    except ServingError:
        return False
    return True


def score_dtype(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def by_name(infos: Mapping[str, TensorInfo]) -> list[TensorInfo]:
    return list(infos.values())
