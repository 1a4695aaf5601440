"""TensorProto ↔ numpy without TensorFlow: typed fields (``float_val`` …) and ``tensor_content``.

TF Serving answers in typed fields by default and in packed ``tensor_content`` when started with
``--enable_serialization_as_tensor_content``; both must give the same array.
"""

from __future__ import annotations

import math

import numpy as np

from tfcompare.serving._protos import types_pb2

# dtype enum → (numpy dtype, typed field holding the values)
_DTYPES: dict[int, tuple[str, str]] = {
    types_pb2.DT_FLOAT: ("<f4", "float_val"),
    types_pb2.DT_DOUBLE: ("<f8", "double_val"),
    types_pb2.DT_INT32: ("<i4", "int_val"),
    types_pb2.DT_UINT8: ("<u1", "int_val"),
    types_pb2.DT_INT16: ("<i2", "int_val"),
    types_pb2.DT_INT8: ("<i1", "int_val"),
    types_pb2.DT_UINT16: ("<u2", "int_val"),
    types_pb2.DT_INT64: ("<i8", "int64_val"),
    types_pb2.DT_UINT32: ("<u4", "uint32_val"),
    types_pb2.DT_UINT64: ("<u8", "uint64_val"),
    types_pb2.DT_BOOL: ("?", "bool_val"),
    types_pb2.DT_HALF: ("<f2", "half_val"),
    types_pb2.DT_BFLOAT16: ("bfloat16", "half_val"),
    types_pb2.DT_STRING: ("object", "string_val"),
}


# dtype enum → numpy-style name used by tfcompare.serving.inputs ("string" for DT_STRING)
_NUMPY_NAMES: dict[int, str] = {
    types_pb2.DT_FLOAT: "float32",
    types_pb2.DT_DOUBLE: "float64",
    types_pb2.DT_HALF: "float16",
    types_pb2.DT_BFLOAT16: "bfloat16",
    types_pb2.DT_UINT8: "uint8",
    types_pb2.DT_INT8: "int8",
    types_pb2.DT_UINT16: "uint16",
    types_pb2.DT_INT16: "int16",
    types_pb2.DT_INT32: "int32",
    types_pb2.DT_UINT32: "uint32",
    types_pb2.DT_INT64: "int64",
    types_pb2.DT_UINT64: "uint64",
    types_pb2.DT_BOOL: "bool",
    types_pb2.DT_STRING: "string",
}
_ENUMS = {name: dtype for dtype, name in _NUMPY_NAMES.items()}


def numpy_name(dtype: int | str) -> str:
    """``DT_FLOAT`` (or its number) → ``float32``; a type tfcompare cannot send keeps its name."""
    if isinstance(dtype, str):
        try:
            number: int = types_pb2.DataType.Value(dtype)
        except ValueError:
            return dtype
    else:
        number = dtype
    return _NUMPY_NAMES.get(number, dtype_name(number))


def request_tensor(value, tensor) -> None:
    """Fill ``tensor`` (a TensorProto inside a request) with a ``RequestInput``: an encoded image
    as DT_STRING [1], a numeric array packed little-endian in ``tensor_content`` (never one typed
    field per value)."""
    if value.is_string:
        string_tensor(value.data, tensor)
        return
    array = value.array
    tensor.dtype = _ENUMS[value.dtype]
    for d in array.shape:
        tensor.tensor_shape.dim.add().size = d
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    tensor.tensor_content = array.tobytes()


def dtype_name(dtype: int) -> str:
    """``1`` → ``"DT_FLOAT"``; unknown numbers come back as ``"DT_<n>"``."""
    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"DT_{dtype}"


def _bfloat16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def to_numpy(tensor) -> np.ndarray:
    """Decode a TensorProto. Strings come back as an object array of ``bytes``.

    Raises ValueError for dtypes tfcompare does not read (complex, resource, variant …).
    """
    if tensor.dtype not in _DTYPES:
        raise ValueError(f"output of type {dtype_name(tensor.dtype)} is not supported")
    np_dtype, field = _DTYPES[tensor.dtype]
    shape = [d.size for d in tensor.tensor_shape.dim]
    known = not tensor.tensor_shape.unknown_rank and all(s >= 0 for s in shape)
    size = math.prod(shape) if known else None

    if tensor.tensor_content and tensor.dtype != types_pb2.DT_STRING:
        if np_dtype == "bfloat16":
            arr = _bfloat16_to_f32(np.frombuffer(tensor.tensor_content, dtype="<u2"))
        else:
            arr = np.frombuffer(tensor.tensor_content, dtype=np_dtype)
    else:
        values = getattr(tensor, field)
        if tensor.dtype == types_pb2.DT_STRING:
            arr = np.empty(len(values), dtype=object)
            arr[:] = list(values)
        elif tensor.dtype == types_pb2.DT_HALF:
            arr = np.asarray(values, dtype=np.uint16).view(np.float16)
        elif tensor.dtype == types_pb2.DT_BFLOAT16:
            arr = _bfloat16_to_f32(np.asarray(values, dtype=np.uint16))
        else:
            arr = np.asarray(values, dtype=np_dtype)
        # TensorFlow compresses repeated trailing values: the last value fills the rest.
        if size is not None and 0 < arr.size < size:
            arr = np.concatenate([arr, np.repeat(arr[-1:], size - arr.size)])
    if size is None:
        return arr
    if arr.size != size:
        raise ValueError(f"tensor holds {arr.size} values but its shape {shape} needs {size}")
    return arr.reshape(shape)


def string_tensor(data: bytes, tensor) -> None:
    """Fill ``tensor`` (a TensorProto inside a request) with one encoded image: DT_STRING [1]."""
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add().size = 1
    tensor.string_val.append(data)


# dtypes of the tensors in a model's own top-k answer (class names or ids, and scores)
_PAIR_DTYPES = frozenset(
    {
        types_pb2.DT_FLOAT,
        types_pb2.DT_DOUBLE,
        types_pb2.DT_STRING,
        types_pb2.DT_INT32,
        types_pb2.DT_INT64,
    }
)
SCORE_DTYPES = frozenset({types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE})


def short_values(tensor, limit: int) -> list | None:
    """The values of a float, double, string, int32 or int64 tensor of shape [n] or [1, n]
    (0 < n ≤ limit) held in its typed field, as a plain list; None for anything else (read that
    with ``to_numpy``). Floats come back as Python floats, exactly as ``to_numpy`` widens them."""
    if (
        tensor.dtype not in _PAIR_DTYPES
        or tensor.tensor_content
        or tensor.tensor_shape.unknown_rank
    ):
        return None
    dims = tensor.tensor_shape.dim
    if len(dims) == 1:
        n = dims[0].size
    elif len(dims) == 2 and dims[0].size == 1:
        n = dims[1].size
    else:
        return None
    values = getattr(tensor, _DTYPES[tensor.dtype][1])
    if not 0 < n <= limit or len(values) != n:
        return None
    return list(values)
