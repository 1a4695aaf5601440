"""What the Open Inference Protocol ("KServe v2") clients share, over gRPC and REST alike:
datatypes, tensors in raw form, and model metadata → the signature tfcompare calls.

- Datatypes: ``BOOL``, ``UINT8`` … ``UINT64``, ``INT8`` … ``INT64``, ``FP16``, ``FP32``,
  ``FP64``, ``BF16`` and ``BYTES`` ↔ numpy names (``BYTES`` is ``string``, as
  ``tfcompare.serving.inputs`` names encoded bytes; ``BF16`` is read as float32).
- Raw form (gRPC ``raw_input_contents`` / ``raw_output_contents``, the REST binary extension):
  the flattened row-major elements, little-endian; a ``BYTES`` element is a 4-byte
  little-endian length and then its bytes.
- Metadata: a model's inputs and outputs (``name``, ``datatype``, ``shape`` with -1 for any
  size) choose the input kind; a model whose metadata lists no inputs (KServe's Python models
  unless they say) takes what the backend spec's ``input=`` option declares.

Every size read from an answer is checked against the bytes that hold it before anything is
allocated, so a server that lies about a shape gets a clear error, not a huge array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from tfcompare.serving.answers import ServingError, SignatureInfo
from tfcompare.serving.base import num_classes
from tfcompare.serving.inputs import (
    STRING,
    RequestInput,
    TensorInfo,
    choose_input,
    declared_input,
)

# OIP datatype → numpy name (``string`` for BYTES)
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BF16": "bfloat16",
    "BYTES": STRING,
}
_OIP_NAMES = {v: k for k, v in DATATYPES.items()}
# OIP datatype → (numpy dtype of its raw little-endian form, bytes per element)
_RAW: dict[str, tuple[str, int]] = {
    "BOOL": ("?", 1),
    "UINT8": ("<u1", 1),
    "UINT16": ("<u2", 2),
    "UINT32": ("<u4", 4),
    "UINT64": ("<u8", 8),
    "INT8": ("<i1", 1),
    "INT16": ("<i2", 2),
    "INT32": ("<i4", 4),
    "INT64": ("<i8", 8),
    "FP16": ("<f2", 2),
    "FP32": ("<f4", 4),
    "FP64": ("<f8", 8),
    "BF16": ("<u2", 2),
}
# the most elements one answer's tensor may claim (a classifier's answer is far smaller)
MAX_ELEMENTS = 1 << 28
# extension names a server lists (``GET /v2`` / ServerMetadata) for Triton's binary tensors
BINARY_EXTENSION = "binary_tensor_data"


def numpy_name(datatype: str) -> str:
    """``FP32`` → ``float32``, ``BYTES`` → ``string``; an unknown datatype keeps its name (the
    input-kind errors then name it as the server did)."""
    return DATATYPES.get(str(datatype).upper(), str(datatype))


def oip_datatype(dtype: str) -> str:
    """``float32`` → ``FP32``, ``string`` → ``BYTES``."""
    try:
        return _OIP_NAMES[dtype]
    except KeyError:
        raise ServingError(
            "INVALID_ARGUMENT", f"tfcompare cannot send a {dtype} tensor over the OIP"
        ) from None


# --------------------------------------------------------------------------- raw form


def pack_bytes(elements: Iterable[bytes]) -> bytes:
    """``BYTES`` elements in raw form: each a 4-byte little-endian length, then its bytes."""
    parts: list[bytes] = []
    for element in elements:
        parts += (len(element).to_bytes(4, "little"), element)
    return b"".join(parts)


def unpack_bytes(raw: bytes | memoryview, count: int | None = None) -> list[bytes]:
    """Raw ``BYTES`` contents → the elements; ValueError when a length runs past the end or the
    element count is not ``count``."""
    view = memoryview(raw)
    elements: list[bytes] = []
    at = 0
    while at < len(view):
        if len(view) - at < 4:
            raise ValueError("BYTES contents end inside an element's 4-byte length")
        size = int.from_bytes(view[at : at + 4], "little")
        at += 4
        if size > len(view) - at:
            raise ValueError(
                f"a BYTES element claims {size} bytes but only {len(view) - at} follow"
            )
        elements.append(bytes(view[at : at + size]))
        at += size
        if count is not None and len(elements) > count:
            break
    if count is not None and len(elements) != count:
        raise ValueError(f"BYTES contents hold {len(elements)} elements, the shape needs {count}")
    return elements


def raw_contents(value: RequestInput) -> bytes:
    """One request input in raw form: an encoded image as one BYTES element, an array as its
    little-endian bytes."""
    if value.is_string:
        return pack_bytes([value.encoded])
    array = value.array
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def element_count(shape: Sequence[int]) -> int:
    """The elements a tensor's shape holds; ValueError for a negative or absurd shape."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {dims} has a negative dimension")
    count = math.prod(dims)
    if count > MAX_ELEMENTS:
        raise ValueError(f"shape {dims} claims {count} elements")
    return count


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def from_raw(datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> np.ndarray:
    """An output tensor from its raw form; ValueError when the bytes do not fit the shape."""
    datatype = str(datatype).upper()
    count = element_count(shape)
    dims = tuple(int(d) for d in shape)
    if datatype == "BYTES":
        arr = np.empty(count, dtype=object)
        arr[:] = unpack_bytes(raw, count)
        return arr.reshape(dims)
    if datatype not in _RAW:
        raise ValueError(f"output datatype {datatype!r} is not one tfcompare reads")
    np_dtype, size = _RAW[datatype]
    if len(raw) != count * size:
        raise ValueError(
            f"a {datatype} tensor of shape {list(dims)} needs {count * size} bytes, "
            f"the answer holds {len(raw)}"
        )
    arr = np.frombuffer(raw, dtype=np_dtype)
    if datatype == "BF16":
        arr = _bf16_to_f32(arr)
    return arr.reshape(dims)


def from_values(datatype: str, shape: Sequence[int], values: Sequence) -> np.ndarray:
    """An output tensor from a list of its values (gRPC typed ``contents``, REST JSON ``data``);
    ValueError when the count does not fit the shape."""
    datatype = str(datatype).upper()
    count = element_count(shape)
    dims = tuple(int(d) for d in shape)
    if len(values) != count:
        raise ValueError(
            f"a tensor of shape {list(dims)} needs {count} values, the answer holds {len(values)}"
        )
    if datatype == "BYTES":
        arr = np.empty(count, dtype=object)
        arr[:] = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
        return arr.reshape(dims)
    name = DATATYPES.get(datatype)
    if name is None or name == STRING:
        raise ValueError(f"output datatype {datatype!r} is not one tfcompare reads")
    if name == "bfloat16":  # typed or JSON values of a BF16 tensor are its numbers
        name = "float32"
    return np.asarray(values, dtype=name).reshape(dims)


# --------------------------------------------------------------------------- metadata


def tensor_info(name: object, datatype: object, shape: object) -> TensorInfo:
    """One metadata entry → TensorInfo (numpy dtype name, shape with -1 for any size; None when
    the shape is missing or unreadable)."""
    dims: tuple[int, ...] | None
    try:
        dims = tuple(int(d) for d in shape) if isinstance(shape, (list, tuple)) else None
    except (TypeError, ValueError):
        dims = None
    if dims is not None:
        dims = tuple(d if d >= 0 else -1 for d in dims)
    return TensorInfo(str(name), numpy_name(str(datatype)), dims)


def signature(
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    *,
    model: str,
    where: str,
    declared: str | None,
    version: int | str | None,
) -> SignatureInfo:
    """The signature tfcompare calls a model with, from its metadata's inputs and outputs: the
    input kind chosen from the inputs, or the one ``declared`` (the spec's ``input=`` option,
    which wins over the metadata when given). Raises ServingError INVALID_ARGUMENT naming the
    option when the metadata lists no inputs and none is declared."""
    if declared:
        try:
            info, named = declared_input(declared)
        except ValueError as exc:
            raise ServingError("INVALID_ARGUMENT", str(exc)) from None
        if not named and len(inputs) == 1:  # the model's own input name, when it has one
            info = TensorInfo(inputs[0].name, info.dtype, info.shape)
        chosen = [info]
    elif not inputs:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"model '{model}' on {where} lists no inputs in its metadata: say what it takes "
            "with the backend option input=bytes (an encoded image) or input=float32:224x224x3 "
            "(a tensor; :nchw for channels first)",
        )
    else:
        chosen = list(inputs)
    kind = choose_input(chosen, model=model, where="the metadata")
    info = next(i for i in chosen if i.name == kind.key)
    return SignatureInfo(
        signature_name="",
        input_key=kind.key,
        input_dtype=_OIP_NAMES.get(info.dtype, info.dtype),
        output_keys=tuple(o.name for o in outputs),
        model_version=version,
        input=kind,
        num_classes=num_classes(outputs),
    )


def version_value(text: str | None) -> int | str | None:
    """A version label as answers carry it: a whole number as int (``"1"`` → 1), another label
    as it is, empty as None."""
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 19 else text
