"""TensorProto ↔ NumPy conversion on the server's hot path.

Written by hand instead of ``tf.make_tensor_proto`` because TF Serving answers in typed fields
(``float_val``, ``string_val`` …) unless ``--enable_serialization_as_tensor_content`` is set, while
``make_tensor_proto`` always packs numbers into ``tensor_content``. Both modes are supported here.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# numpy dtype → (DataType, typed field name)
_TYPED: dict[np.dtype, tuple[int, str]] = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
    np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
    np.dtype(np.int16): (types_pb2.DT_INT16, "int_val"),
    np.dtype(np.int8): (types_pb2.DT_INT8, "int_val"),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
    np.dtype(np.uint16): (types_pb2.DT_UINT16, "int_val"),
    np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    np.dtype(np.uint32): (types_pb2.DT_UINT32, "uint32_val"),
    np.dtype(np.uint64): (types_pb2.DT_UINT64, "uint64_val"),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, "bool_val"),
    np.dtype(np.float16): (types_pb2.DT_HALF, "half_val"),
}


# DataType → (typed field, values per element, bytes per element in tensor_content)
_FIELDS: dict[int, tuple[str, int, int]] = {
    dtype: (field, 1, np_dtype.itemsize) for np_dtype, (dtype, field) in _TYPED.items()
}
_FIELDS.update(
    {
        types_pb2.DT_STRING: ("string_val", 1, 0),
        types_pb2.DT_BFLOAT16: ("half_val", 1, 2),
        types_pb2.DT_COMPLEX64: ("scomplex_val", 2, 8),
        types_pb2.DT_COMPLEX128: ("dcomplex_val", 2, 16),
    }
)


def shape_problem(proto: tensor_pb2.TensorProto) -> str | None:
    """Why a request tensor's shape does not fit its values, or None when it does.

    TF Serving refuses unknown ranks and negative dimensions ("tensor parsing error"). TensorFlow
    itself would repeat the last value to fill a short typed field (zeros for an empty one) and
    ignore values beyond the shape; this server refuses both, so one 100-byte request can neither
    make it decode an image 20000 times nor allocate gigabytes of copies of one number.
    """
    if proto.tensor_shape.unknown_rank:
        return "the tensor shape has an unknown rank"
    shape = dims(proto)
    if any(d < 0 for d in shape):
        return f"negative dimension in shape {shape}"
    count = 1
    for d in shape:
        count *= d
    field, per_element, item_bytes = _FIELDS.get(proto.dtype, (None, 1, 0))
    if field is None:
        return None  # other types: checked by tf.make_ndarray
    if proto.tensor_content:
        if not item_bytes or len(proto.tensor_content) != count * item_bytes:
            return (
                f"shape {shape} needs {count} element(s); tensor_content holds "
                f"{len(proto.tensor_content)} bytes"
            )
        return None
    given = len(getattr(proto, field))
    if given != count * per_element:
        return f"shape {shape} needs {count} element(s) but {given // per_element} were given"
    return None


def count_only(proto: tensor_pb2.TensorProto) -> bool:
    """Whether :func:`shape_problem`'s objection is only the number of typed-field values (which
    TensorFlow itself would accept, filling or cutting)."""
    return (
        not proto.tensor_shape.unknown_rank
        and all(d >= 0 for d in dims(proto))
        and not proto.tensor_content
        and proto.dtype in _FIELDS
    )


def dims(proto: tensor_pb2.TensorProto) -> list[int]:
    return [d.size for d in proto.tensor_shape.dim]


# DataType → the NumPy dtype a request tensor is fed as (TensorFlow's own types for these)
NUMPY_DTYPES: dict[int, np.dtype] = {dtype: np_dtype for np_dtype, (dtype, _) in _TYPED.items()}
NUMPY_DTYPES[types_pb2.DT_COMPLEX64] = np.dtype(np.complex64)
NUMPY_DTYPES[types_pb2.DT_COMPLEX128] = np.dtype(np.complex128)
# typed field → the NumPy dtype its values arrive in (the proto's own field type)
_FIELD_DTYPES = {
    "float_val": np.float32,
    "double_val": np.float64,
    "int_val": np.int32,
    "int64_val": np.int64,
    "uint32_val": np.uint32,
    "uint64_val": np.uint64,
    "bool_val": np.bool_,
    "half_val": np.int32,
}


def dtype_string(dtype: int) -> str:
    """TensorFlow's ``DataTypeString``: ``float``, ``half``, ``uint8``, ``string`` …"""
    try:
        name = types_pb2.DataType.Name(dtype % 100)
    except ValueError:
        return f"unknown dtype enum ({dtype})"
    return name[3:].lower() + ("_ref" if dtype > 100 else "")


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """A request TensorProto as the NumPy array fed to the model, like TensorFlow's
    ``Tensor::FromProto``: packed ``tensor_content`` (little-endian) or the dtype's typed field
    (``int_val`` holds DT_UINT8/INT8/INT16/UINT16 values, cast as C++ casts them, so 300 becomes
    44 in a DT_UINT8 tensor; ``half_val`` holds DT_HALF bit patterns). Call :func:`shape_problem`
    first: the value count must fit the shape."""
    shape = dims(proto)
    if proto.dtype == types_pb2.DT_STRING and not proto.tensor_content:
        values = list(proto.string_val)
        array = np.empty(len(values), dtype=object)
        array[:] = values  # never a nested array, whatever the bytes
        return array.reshape(shape)
    np_dtype = NUMPY_DTYPES.get(proto.dtype)
    if np_dtype is None or np_dtype.kind == "c":
        return tf.make_ndarray(proto)  # bfloat16, complex, quantized types: TensorFlow's own
    if proto.tensor_content:
        packed = np.frombuffer(proto.tensor_content, dtype=np_dtype.newbyteorder("<"))
        return packed.astype(np_dtype, copy=False).reshape(shape)
    field = _TYPED[np_dtype][1]
    typed: np.ndarray = np.array(getattr(proto, field), dtype=_FIELD_DTYPES[field])
    if proto.dtype == types_pb2.DT_HALF:
        return typed.astype(np.uint16).view(np.float16).reshape(shape)
    return typed.astype(np_dtype, copy=False).reshape(shape)


def fill_proto(
    proto: tensor_pb2.TensorProto, value: np.ndarray, *, tensor_content: bool = False
) -> None:
    """Write a response tensor into ``proto`` (an empty entry of a response's outputs) in TF
    Serving's layout: typed fields, or packed in tensor_content when asked."""
    array = np.asarray(value)
    dims_out = proto.tensor_shape.dim
    for d in array.shape:
        dims_out.add().size = d
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        flat = array.ravel()
        if array.dtype.kind == "U":
            proto.string_val.extend(s.encode("utf-8") for s in flat)
        else:
            proto.string_val.extend(flat.tolist())
        return
    try:
        dtype, field = _TYPED[array.dtype]
    except KeyError:
        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = dtype
    if tensor_content:
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        proto.tensor_content = little.tobytes()
    elif field == "half_val":
        proto.half_val.extend(array.ravel().view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(array.ravel().tolist())
