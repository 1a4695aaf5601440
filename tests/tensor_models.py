"""Small, deterministic tensor-input image classifiers for tests (helper module, no TensorFlow).

Each kind is a Keras 3 model exported with ``keras.Model.export()`` into a TF Serving model base
path (``<base>/1/``) by ``tests/build_tensor_model.py``, run as a subprocess (the pytest process
never imports TensorFlow). Weights come from NumPy's generator seeded with :data:`SEED`, so every
build answers alike; a 4 × 4 grid pooling (or, for ``dynamic``, global pooling of centred
features) keeps the answer tied to the picture, so other preprocessing gives another top-5.

Keras' ``export`` writes two signatures, ``serving_default`` and ``serve`` (the same function).
The input key is the ``keras.Input``'s name; an unnamed input is ``keras_tensor`` (``nhwc-float32``
keeps that default). The output key is ``output_0`` for a single unnamed output (Keras' default,
kept by ``nhwc-float32``), else the name given in a dict of outputs.

Kinds (``KINDS``; input shapes without the batch dimension, which is -1 everywhere):

================  ============================  ========  ============  =================================
kind              input key: dtype, shape        scale     classes       output key: shape
================  ============================  ========  ============  =================================
nhwc-float32      keras_tensor: float32 32×32×3  tf        1000 softmax  output_0: [-1, 1000]
nchw-float32      input: float32 3×32×32 (NCHW)  torch     1000 logits   logits: [-1, 1000]
uint8             image: uint8 32×32×3           raw       1000 softmax  probabilities: [-1, 1000]
float16           image: float16 32×32×3         tf        1000 softmax  probabilities: [-1, 1000]
dynamic           image: float32 ?×?×3           unit      1000 softmax  probabilities: [-1, 1000]
ids-1001          images: float32 32×32×3        tf        1001 softmax  probabilities: [-1, 1001]
grey              image: float32 32×32×1         unit      1000 softmax  probabilities: [-1, 1000]
classes-10        image: float32 32×32×3         tf        10 softmax    probabilities: [-1, 10]
feature-map       image: float32 32×32×3         tf        (10 maps)     feature_map: [-1, 4, 4, 10]
two-images        image_a, image_b: float32      tf        1000 softmax  probabilities: [-1, 1000]
                  32×32×3 each
================  ============================  ========  ============  =================================

``ids-1001`` follows the 1001-class convention (index 0 = background, never likely here). The
``uint8`` model casts inside and maps 0…255 to −1…1 itself (``Rescaling(1/127.5, offset=-1)``);
``float16`` casts to float32 inside (its answer is float32, which TF Serving's REST API can
write; a DT_HALF answer it cannot). Both have ``nhwc-float32``'s weights, so their answers can be
checked against it: ``float16`` on ``x`` answers as ``nhwc-float32`` on ``x.astype(float32)``,
bit for bit.

The exact client-side preprocessing that makes each kind's expected input is :func:`preprocess`
(NumPy + Pillow):

1. decode with Pillow and convert to ``"RGB"`` (``"L"`` for ``grey``);
2. resize to ``size × size`` with ``Image.Resampling.BILINEAR`` (no crop; ``dynamic`` keeps the
   picture's own size);
3. to a float32 array ``x`` (H, W, C) of 0…255 values, then scale:
   ``raw`` x (kept as uint8 for ``uint8``), ``unit`` x / 255, ``tf`` x / 127.5 − 1,
   ``torch`` (x / 255 − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225];
4. cast to the input dtype (float16 for ``float16``);
5. NCHW kinds: transpose to (C, H, W); finally a batch dimension in front.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 20260419
BUILD_SCRIPT = Path(__file__).resolve().parent / "build_tensor_model.py"
TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class TensorKind:
    kind: str
    input_key: str = "image"
    dtype: str = "float32"  # NumPy / Keras name of the input dtype
    size: int | None = 32  # fixed height = width; None: any
    channels: int = 3
    layout: str = "NHWC"
    scale: str = "tf"  # raw | unit | tf | torch
    classes: int = 1000
    output_key: str = "probabilities"
    output_kind: str = "softmax"  # softmax | logits
    input_keys: tuple[str, ...] = field(default=())  # two-images: both keys
    weights: str = ""  # the kind whose weights these are (default: its own)

    @property
    def inputs(self) -> int:
        return len(self.input_keys) or 1

    @property
    def keys(self) -> tuple[str, ...]:
        return self.input_keys or (self.input_key,)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (4, 4, self.classes) if self.kind == "feature-map" else (self.classes,)


KINDS: dict[str, TensorKind] = {
    k.kind: k
    for k in (
        TensorKind("nhwc-float32", input_key="keras_tensor", output_key="output_0"),
        TensorKind(
            "nchw-float32",
            input_key="input",
            layout="NCHW",
            scale="torch",
            output_key="logits",
            output_kind="logits",
        ),
        TensorKind("uint8", dtype="uint8", scale="raw", weights="nhwc-float32"),
        TensorKind("float16", dtype="float16", weights="nhwc-float32"),
        TensorKind("dynamic", size=None, scale="unit"),
        TensorKind("ids-1001", input_key="images", classes=1001),
        TensorKind("grey", channels=1, scale="unit"),
        TensorKind("classes-10", classes=10),
        TensorKind("feature-map", classes=10, output_key="feature_map", output_kind="feature-map"),
        TensorKind("two-images", input_keys=("image_a", "image_b")),
    )
}


def preprocess(kind: str, image: Image.Image | bytes | str | os.PathLike) -> np.ndarray:
    """The kind's expected input for one picture, batch dimension included (see the module
    docstring for the steps)."""
    spec = KINDS[kind]
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    elif not isinstance(image, Image.Image):
        image = Image.open(image)
    image = image.convert("L" if spec.channels == 1 else "RGB")
    if spec.size is not None:
        image = image.resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if spec.scale == "unit":
        x = x / 255.0
    elif spec.scale == "tf":
        x = x / 127.5 - 1.0
    elif spec.scale == "torch":
        x = (x / 255.0 - TORCH_MEAN) / TORCH_STD
    x = x.astype(spec.dtype)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None])


def build_tensor_models(
    kinds: Iterable[str], out_root: Path, timeout: float = 600
) -> dict[str, Path]:
    """Build the kinds (one subprocess, one TensorFlow start); ``{kind: model base path}``."""
    kinds = list(dict.fromkeys(kinds))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    proc = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(out_root), *kinds],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    built = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BUILT "):
            _, kind, path = line.split(" ", 2)
            built[kind] = Path(path)
    if proc.returncode != 0 or set(built) != set(kinds):
        raise RuntimeError(
            f"building tensor models {kinds} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return built


def build_tensor_model(kind: str, out_root: Path) -> Path:
    """One kind's model base path (``out_root/<kind>``, version 1 inside)."""
    return build_tensor_models([kind], out_root)[kind]


# ------------------------------------------------------------------------ requests and answers
# Official stubs, loaded without TensorFlow's runtime.


def tensor_proto(array: np.ndarray, *, typed: bool = False):
    """A request TensorProto: packed ``tensor_content`` (little-endian), or the dtype's typed
    field (``float_val``, ``half_val`` bit patterns, ``int_val`` for uint8 …) when ``typed``."""
    from tfcompare.serving._protos import tensor_pb2, types_pb2

    dtypes = {
        np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
        np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
        np.dtype(np.float16): (types_pb2.DT_HALF, "half_val"),
        np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
        np.dtype(np.int8): (types_pb2.DT_INT8, "int_val"),
        np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
        np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    }
    dtype, typed_field = dtypes[array.dtype]
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if not typed:
        proto.tensor_content = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
    elif typed_field == "half_val":
        proto.half_val.extend(array.ravel().view(np.uint16).tolist())
    else:
        getattr(proto, typed_field).extend(array.ravel().tolist())
    return proto


def predict_request(
    model: str, inputs: dict[str, np.ndarray], *, typed: bool = False, signature: str = ""
):
    from tfcompare.serving._protos import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for key, array in inputs.items():
        request.inputs[key].CopyFrom(tensor_proto(array, typed=typed))
    return request


def answer_array(proto) -> np.ndarray:
    """A response TensorProto as an array (typed fields or tensor_content)."""
    from tfcompare.serving._protos import types_pb2

    shape = [d.size for d in proto.tensor_shape.dim]
    dtypes = {
        types_pb2.DT_FLOAT: (np.float32, "float_val"),
        types_pb2.DT_DOUBLE: (np.float64, "double_val"),
        types_pb2.DT_INT32: (np.int32, "int_val"),
        types_pb2.DT_INT64: (np.int64, "int64_val"),
    }
    if proto.dtype == types_pb2.DT_STRING:
        return np.array(list(proto.string_val), dtype=object).reshape(shape)
    dtype, typed_field = dtypes[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return np.array(getattr(proto, typed_field), dtype=dtype).reshape(shape)


# ------------------------------------------------------------------------------ warm-up records


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C (Castagnoli), rotated and offset ("masked")."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def write_warmup_records(model_version_dir: Path, requests: Iterable) -> Path:
    """Write PredictRequests as TF Serving's warm-up file
    (``<version>/assets.extra/tf_serving_warmup_requests``: a TFRecord of PredictionLog)."""
    import struct

    from tfcompare.serving import _protos

    (prediction_log_pb2,) = _protos._load(["tensorflow_serving.apis.prediction_log_pb2"])
    path = Path(model_version_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for request in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            data = log.SerializeToString()
            length = struct.pack("<Q", len(data))
            out.write(length + struct.pack("<I", _masked_crc32c(length)))
            out.write(data + struct.pack("<I", _masked_crc32c(data)))
    return path


def start_kinds(kinds, model_base, log_dir) -> dict:
    """A ``tfcompare serve`` backend for each kind (model name = kind, REST on, 1 thread),
    started together: ``{kind: LocalBackend}``. ``model_base``: the ``tensor_model_base``
    fixture. The caller stops them."""
    from backends import start_backends

    started = start_backends(
        [
            dict(model_base=model_base(k), model_name=k, rest=True, threads=1, log_dir=log_dir)
            for k in kinds
        ]
    )
    return dict(zip(kinds, started, strict=True))
