"""TF Serving's JSON ↔ tensor rules for the REST Predict API, reproduced without TensorFlow.

Requests become NumPy arrays in the signature's dtypes exactly as
``tensorflow_serving/util/json_tensor.cc`` (``FillPredictRequestFromJson``) turns them into
TensorProtos: the ``instances`` (row) and ``inputs`` (columnar) formats, JSON numbers taken as the
signature's type (any number for DT_FLOAT/DT_DOUBLE; a JSON integer in range for the integer
types, an integral-looking ``1.0`` being refused as rapidjson refuses it; a DT_UINT8 value out of
0…255 wraps as the C++ cast in TensorFlow's ``Tensor::FromProto`` wraps it), ``{"b64": …}`` for
DT_STRING, and TF Serving's error texts and status codes (DT_HALF and other types without a JSON
conversion are UNIMPLEMENTED, as in TF Serving). Answers are written like its
``MakeJsonFromTensors``: ``predictions`` / ``outputs``, floats with six significant digits when
they read back as the same float (nine otherwise) and a ``.0`` on whole numbers.

Speed: a 224 × 224 × 3 float image is ~150,000 JSON numbers. The document is read by orjson (about
three times quicker than the standard library on such bodies; the standard library reads what
orjson refuses, such as ``NaN`` literals, and words the parse errors), and a well-formed tensor is
converted in one NumPy call. Anything NumPy would convert more leniently than TF Serving (booleans
among numbers, ragged lists, strings, non-integral numbers for an integer type …) falls back to an
element-by-element walk that reproduces TF Serving's checks and messages in its order.
``bench/bench_rest_tensor_parse.py`` measures it.

This module imports neither TensorFlow nor the server (``bench`` and tests use it in-process).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import numpy as np
import orjson

from tfcompare.serving._protos import types_pb2

T = types_pb2
# DataType → NumPy dtype of the arrays made for it (the types JSON can carry in TF Serving)
NUMPY: dict[int, np.dtype] = {
    T.DT_FLOAT: np.dtype(np.float32),
    T.DT_DOUBLE: np.dtype(np.float64),
    T.DT_INT32: np.dtype(np.int32),
    T.DT_INT16: np.dtype(np.int16),
    T.DT_INT8: np.dtype(np.int8),
    T.DT_UINT8: np.dtype(np.uint8),
    T.DT_INT64: np.dtype(np.int64),
    T.DT_UINT32: np.dtype(np.uint32),
    T.DT_UINT64: np.dtype(np.uint64),
    T.DT_BOOL: np.dtype(np.bool_),
    T.DT_STRING: np.dtype(object),
}
# types JSON has no conversion for; an empty list still makes an (empty) tensor of them
_EMPTY_ONLY: dict[int, np.dtype] = {
    T.DT_HALF: np.dtype(np.float16),
    T.DT_UINT16: np.dtype(np.uint16),
    T.DT_COMPLEX64: np.dtype(np.complex64),
    T.DT_COMPLEX128: np.dtype(np.complex128),
}
_INT32_TYPES = (T.DT_INT32, T.DT_INT16, T.DT_INT8, T.DT_UINT8)  # carried in int_val (int32)
_INT32 = (-(2**31), 2**31 - 1)
_RANGES = {
    **{dt: _INT32 for dt in _INT32_TYPES},
    T.DT_INT64: (-(2**63), 2**63 - 1),
    T.DT_UINT32: (0, 2**32 - 1),
    T.DT_UINT64: (0, 2**64 - 1),
}
MAX_DEBUG_BYTES = 256  # kMaxJsonDebugStringBytes


class JsonTensorError(Exception):
    """A request TF Serving's JSON layer refuses (or an answer it cannot write)."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT):
        super().__init__(message)
        self.message = message
        self.code = code


# ----------------------------------------------------------------------------------- reading


MAX_NESTING = 256  # TensorFlow tensors have at most 254 dimensions; {"b64": …} adds a level


def loads(body: bytes) -> Any:
    """The request document; errors as TF Serving's ``ParseJson`` words them (the detail after
    "JSON Parse error: " is Python's, not rapidjson's)."""
    if not body:
        raise JsonTensorError("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # NaN/Infinity literals, integers beyond 64 bits, or broken: ask json
    try:
        return json.loads(body)
    except RecursionError:  # deeper than Python's stack: far deeper than any tensor
        raise JsonTensorError(
            f"JSON Parse error: the request nests more than {MAX_NESTING} levels deep"
        ) from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise JsonTensorError(f"JSON Parse error: {str(exc)[:200]}") from None


def fast_ok(body: bytes) -> bool:
    """Whether NumPy may convert this body's number lists in one call: only when no JSON
    boolean can hide among numbers (NumPy would read ``true`` as 1; TF Serving refuses it)."""
    return b"true" not in body and b"false" not in body


def parse_predict(
    doc: Any, inputs: Mapping[str, int], *, fast: bool = True
) -> tuple[str, dict[str, np.ndarray]]:
    """``FillPredictRequestFromJson`` after the signature lookup: ("row" or "columnar", arrays).

    ``doc`` is the parsed request object; ``inputs`` maps the signature's input names to their
    DataTypes (in the signature's order). ``fast=False`` (see :func:`fast_ok`) takes the exact
    walk everywhere."""
    if "instances" in doc:
        if "inputs" in doc:
            raise _format_error(
                doc,
                "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to "
                "exist ",
            )
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        return "row", _instances(instances, inputs, fast)
    if "inputs" in doc:
        return "columnar", _columnar(doc["inputs"], inputs, fast)
    raise JsonTensorError("Missing 'inputs' or 'instances' key")


def _format_error(value: Any, text: str) -> JsonTensorError:
    return JsonTensorError(f"JSON Value: {debug_string(value)} {text}")


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _instances(instances: list, inputs: Mapping[str, int], fast: bool) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInstancesList``."""
    if fast:
        arrays = _fast_instances(instances, inputs)
        if arrays is not None:
            return arrays
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise JsonTensorError(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    named = _is_named(instances[0])
    names = set(inputs)
    columns: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for index, element in enumerate(instances):
        if named:
            if not _is_named(element):
                raise JsonTensorError(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in element.items():
                try:
                    _add_instance_item(value, name, inputs, columns, shapes)
                except JsonTensorError as exc:
                    raise JsonTensorError(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {_status_text(exc)}"
                    ) from None
            if set(element) != names:
                raise JsonTensorError(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(element)} keys must be equal to: {','.join(sorted(names))}"
                )
        else:
            if _is_named(element):
                raise JsonTensorError(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            name = next(iter(inputs))
            try:
                _add_instance_item(element, name, inputs, columns, shapes)
            except JsonTensorError as exc:
                raise JsonTensorError(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {_status_text(exc)}"
                ) from None
    out = {}
    for name, parts in columns.items():
        flat = np.concatenate([part.reshape(-1) for part in parts])
        out[name] = flat.reshape((len(parts), *shapes[name]))
    return out


def _add_instance_item(
    value: Any,
    name: str,
    inputs: Mapping[str, int],
    columns: dict[str, list[np.ndarray]],
    shapes: dict[str, tuple[int, ...]],
) -> None:
    """``AddInstanceItem``: one element's tensor, the same size and shape as the first's."""
    if name not in inputs:
        raise JsonTensorError(f"JSON object: does not have named input: {name}")
    array = _exact(value, inputs[name])
    if name not in shapes:
        shapes[name] = array.shape
        columns[name] = []
    elif int(np.prod(shapes[name], dtype=np.int64)) != array.size:
        raise JsonTensorError(
            f"Expecting tensor size: {int(np.prod(shapes[name], dtype=np.int64))} "
            f"but got: {array.size}"
        )
    elif shapes[name] != array.shape:
        raise JsonTensorError(
            f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(array.shape)}"
        )
    columns[name].append(array)


def _fast_instances(instances: list, inputs: Mapping[str, int]) -> dict[str, np.ndarray] | None:
    first = instances[0]
    if _is_named(first):
        names = set(inputs)
        if not all(_is_named(row) and row.keys() == names for row in instances):
            return None
        columns = {name: [row[name] for row in instances] for name in inputs}
    elif len(inputs) == 1 and not isinstance(first, dict):
        if any(_is_named(row) for row in instances):
            return None
        columns = {next(iter(inputs)): instances}
    else:
        return None
    out = {}
    for name, values in columns.items():
        array = _fast(values, inputs[name])
        if array is None:
            return None
        out[name] = array
    return out


def _columnar(value: Any, inputs: Mapping[str, int], fast: bool) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInputsMap``: keys the signature does not have are ignored."""
    if not isinstance(value, dict) or _is_b64(value):
        if len(inputs) > 1:
            raise JsonTensorError(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        name = next(iter(inputs))
        return {name: tensor(value, inputs[name], fast=fast)}
    out = {}
    for name, dtype in inputs.items():
        if name not in value:
            raise JsonTensorError(f"Missing named input: {name} in 'inputs' object.")
        out[name] = tensor(value[name], dtype, fast=fast)
    return out


def tensor(value: Any, dtype: int, *, fast: bool = True) -> np.ndarray:
    """One JSON value (nested lists of leaves) as an array of ``dtype``, as TF Serving's
    ``FillTensorProto`` makes it."""
    if fast:
        array = _fast(value, dtype)
        if array is not None:
            return array
    return _exact(value, dtype)


def _fast(value: Any, dtype: int) -> np.ndarray | None:
    """The whole nested list in one NumPy call, or None when the exact walk must decide."""
    if not isinstance(value, list) or dtype not in NUMPY or dtype == T.DT_STRING:
        return None
    try:
        array = np.array(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None  # ragged, or something NumPy cannot take
    kind = array.dtype.kind
    target = NUMPY[dtype]
    if dtype == T.DT_BOOL:
        return array if kind == "b" else None
    if dtype in (T.DT_FLOAT, T.DT_DOUBLE):
        if kind not in "iuf" or (kind == "f" and array.dtype != np.float64):
            return None
        with np.errstate(over="ignore"):
            return array.astype(target)
    if kind not in "iu" or array.dtype.itemsize != 8:
        return None
    low, high = _RANGES[dtype]
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        return None
    if dtype in _INT32_TYPES:
        return array.astype(np.int32).astype(target)  # C++ narrowing: 300 → 44 in uint8
    return array.astype(target)


def _dense_shape(value: Any) -> list[int]:
    """``GetDenseTensorShape``: the sizes along the first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _exact(value: Any, dtype: int) -> np.ndarray:
    """``FillTensorProto`` element by element, with its checks and messages."""
    shape = _dense_shape(value)
    rank = len(shape)
    leaves: list[Any] = []
    convert = _converter(dtype)
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, list):
            if level != rank:
                raise JsonTensorError(
                    f"JSON Value: {debug_string(item)} found at incorrect level: {level + 1} in "
                    f"the JSON DOM. Expected at level: {rank}"
                )
            leaves.append(convert(item))
            continue
        if level >= rank:
            raise JsonTensorError(
                f"Encountered list at unexpected level: {level} expected < {rank}"
            )
        if len(item) != shape[level]:
            raise JsonTensorError(
                f"Encountered list at unexpected size: {len(item)} at level: {level} "
                f"expected size: {shape[level]}"
            )
        stack.extend((child, level + 1) for child in reversed(item))
    if dtype == T.DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    if dtype in _INT32_TYPES:
        return np.array(leaves, dtype=np.int32).astype(NUMPY[dtype]).reshape(shape)
    target = NUMPY.get(dtype) or _EMPTY_ONLY.get(dtype)
    if target is None:  # no values to convert, and no NumPy type to hold none of them
        raise JsonTensorError(
            f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_string(dtype)}",
            grpc.StatusCode.UNIMPLEMENTED,
        )
    with np.errstate(over="ignore"):
        return np.array(leaves, dtype=target).reshape(shape)


def _converter(dtype: int):
    """``AddValueToTensor`` for one leaf (objects included, as ``FillTensorProto`` hands them)."""
    name = dtype_string(dtype)

    def type_error(value: Any) -> JsonTensorError:
        return JsonTensorError(
            f"JSON Value: {debug_string(value)} Type: {json_type(value)} is not of expected "
            f"type: {name}"
        )

    if dtype == T.DT_STRING:

        def string(value: Any) -> bytes:
            if isinstance(value, dict):
                return decode_base64(value)
            if isinstance(value, str):
                return value.encode("utf-8", "surrogatepass")
            raise type_error(value)

        return string
    if dtype in (T.DT_FLOAT, T.DT_DOUBLE):

        def number(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise type_error(value)
            try:
                return float(value)
            except OverflowError:  # rapidjson cannot read it either
                raise JsonTensorError(
                    "JSON Parse error: Number too big to be stored in double"
                ) from None

        return number
    if dtype in _RANGES:
        low, high = _RANGES[dtype]

        def integer(value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise type_error(value)
            return value

        return integer
    if dtype == T.DT_BOOL:

        def boolean(value: Any) -> bool:
            if not isinstance(value, bool):
                raise type_error(value)
            return value

        return boolean

    def unsupported(value: Any) -> Any:
        if isinstance(value, dict):
            raise type_error(value)
        raise JsonTensorError(
            f"Conversion of JSON Value: {debug_string(value)} to type: {name}",
            grpc.StatusCode.UNIMPLEMENTED,
        )

    return unsupported


_B64_CHARS = re.compile(r"[A-Za-z0-9+/]*")
_SPACE = re.compile(r"\s+")


def decode_base64(value: Any) -> bytes:
    """``JsonDecodeBase64Object``: ``{"b64": "…"}`` decoded as absl::Base64Unescape decodes
    (standard alphabet, whitespace skipped, padding optional)."""
    if not _is_b64(value):
        raise JsonTensorError(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
        )
    text = _SPACE.sub("", value["b64"]).rstrip("=.")
    if not _B64_CHARS.fullmatch(text) or len(text) % 4 == 1:
        raise JsonTensorError("Unable to base64 decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise JsonTensorError("Unable to base64 decode") from None


def dtype_string(dtype: int) -> str:
    """TensorFlow's ``DataTypeString`` (``float``, ``half``, ``uint8`` …)."""
    try:
        return types_pb2.DataType.Name(dtype % 100)[3:].lower() + ("_ref" if dtype > 100 else "")
    except ValueError:
        return f"unknown dtype enum ({dtype})"


def json_type(value: Any) -> str:
    """``JsonTypeString``."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _number_token(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" in text:  # rapidjson: 1e300, 1e-7
        mantissa, _, exponent = text.partition("e")
        sign = "-" if exponent.startswith("-") else ""
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def _debug_tokens(value: Any) -> Iterator[str]:
    """rapidjson Writer calls for a value, each with the separator written before it."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, prefix = stack.pop()
        if isinstance(item, _Close):
            yield item.text
        elif isinstance(item, dict):
            yield prefix + "{"
            stack.append((_Close("}"), ""))
            entries = list(item.items())
            for i in range(len(entries) - 1, -1, -1):
                key, child = entries[i]
                stack.append((child, ""))
                stack.append((_Key(key), "," if i else ""))
        elif isinstance(item, _Key):
            yield prefix + json.dumps(item.text, ensure_ascii=False) + ":"
        elif isinstance(item, list):
            yield prefix + "["
            stack.append((_Close("]"), ""))
            for i in range(len(item) - 1, -1, -1):
                stack.append((item[i], "," if i else ""))
        elif isinstance(item, str):
            yield prefix + json.dumps(item, ensure_ascii=False)
        elif item is None:
            yield prefix + "null"
        elif isinstance(item, bool):
            yield prefix + ("true" if item else "false")
        else:
            yield prefix + _number_token(item)


class _Close:
    def __init__(self, text: str) -> None:
        self.text = text


class _Key:
    def __init__(self, text: str) -> None:
        self.text = text


def debug_string(value: Any) -> str:
    """``JsonValueToDebugString``: compact JSON, cut after the write that passes 256 bytes."""
    out: list[str] = []
    size = 0
    for token in _debug_tokens(value):
        if size >= MAX_DEBUG_BYTES:
            break
        out.append(token)
        size += len(token.encode("utf-8"))
    return "".join(out)


def _status_text(error: JsonTensorError) -> str:
    """absl ``Status::ToString()`` of a nested error (``INVALID_ARGUMENT: …``)."""
    return f"{error.code.name}: {error.message}"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


# ----------------------------------------------------------------------------------- writing


def dumps_predict(outputs: Mapping[str, np.ndarray], form: str) -> bytes:
    """``MakeJsonFromTensors``: ``{"predictions": …}`` for a row-format request,
    ``{"outputs": …}`` for a columnar one; keys in sorted order."""
    if not outputs:
        raise JsonTensorError("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    for name, array in arrays.items():
        _check_writable(name, array)
    if form == "row":
        batch = -1
        for name, array in arrays.items():
            if array.ndim == 0:
                raise JsonTensorError(f"Tensor name: {name} has no shape information ")
            if batch >= 0 and array.shape[0] != batch:
                raise JsonTensorError(
                    f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                    f"expecting: {batch}"
                )
            batch = array.shape[0]
        rows: list[str] = []
        tokens = {name: _leaf_tokens(name, array) for name, array in arrays.items()}
        for i in range(max(batch, 0)):
            parts = {}
            for name, array in arrays.items():
                per = int(np.prod(array.shape[1:], dtype=np.int64))
                parts[name] = _nest(tokens[name][i * per : (i + 1) * per], array.shape[1:])
            if len(names) == 1:
                rows.append(parts[names[0]])
            else:
                rows.append("{" + ",".join(f"{json.dumps(n)}:{parts[n]}" for n in names) + "}")
        text = '{"predictions":[' + ",".join(rows) + "]}"
    else:
        parts = {n: _nest(_leaf_tokens(n, a), a.shape) for n, a in arrays.items()}
        if len(names) == 1:
            text = '{"outputs":' + parts[names[0]] + "}"
        else:
            text = '{"outputs":{' + ",".join(f"{json.dumps(n)}:{parts[n]}" for n in names) + "}}"
    return text.encode("utf-8")


_WRITABLE = {
    np.dtype(t)
    for t in (np.float32, np.float64, np.int32, np.int16, np.int8, np.uint8, np.int64, np.uint32)
} | {np.dtype(np.uint64), np.dtype(np.bool_), np.dtype(object)}
_TYPE_NAMES = {np.dtype(np.float16): "half", np.dtype(np.uint16): "uint16"}


def _check_writable(name: str, array: np.ndarray) -> None:
    """``AddSingleValueAndAdvance`` writes these types only (no DT_HALF, DT_UINT16, complex …)."""
    if array.dtype in _WRITABLE or array.dtype.kind in "SU":
        return
    what = _TYPE_NAMES.get(array.dtype, array.dtype.name)
    raise JsonTensorError(f"Failed to write JSON value for tensor type: {what}")


def _leaf_tokens(name: str, array: np.ndarray) -> list[str]:
    """JSON text of every element, row-major."""
    flat = array.reshape(-1) if array.ndim else array.reshape(1)
    kind = array.dtype.kind
    if array.dtype == object or kind in "SU":
        as_bytes = name.endswith("_bytes")
        tokens = [_string_token(v, as_bytes) for v in flat.tolist()]
    elif kind == "b":
        tokens = ["true" if v else "false" for v in flat.tolist()]
    elif kind in "iu":
        tokens = [str(v) for v in flat.tolist()]
    else:
        tokens = float_tokens(flat)
    return tokens


def _string_token(value: bytes | str, as_bytes: bool) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not as_bytes:
        try:
            return json.dumps(value.decode("utf-8"), ensure_ascii=False)
        except UnicodeDecodeError:
            pass  # not text: base64, as for a *_bytes output (TF Serving writes the raw bytes)
    return '{"b64":"' + base64.b64encode(value).decode("ascii") + '"}'


def float_tokens(values: np.ndarray) -> list[str]:
    """``WriteDecimal``: ``%g`` (six significant digits) when it reads back as the same value,
    else the type's max_digits10 (9 for float, 17 for double); ``.0`` added to whole numbers
    written without an exponent; NaN, Infinity, -Infinity."""
    flat = values.tolist()
    tokens = [f"{v:.6g}" for v in flat]
    with np.errstate(over="ignore", invalid="ignore"):
        back = np.array(tokens, dtype=np.float64).astype(values.dtype)
    same = (back == values) | (np.isnan(back) & np.isnan(values))
    digits = 9 if values.dtype == np.float32 else 17
    for i in np.flatnonzero(~same).tolist():
        tokens[i] = f"{flat[i]:.{digits}g}"
    for i, token in enumerate(tokens):
        if token[-1] in "0123456789":
            if "." not in token and "e" not in token:
                tokens[i] = token + ".0"
        elif token == "nan":
            tokens[i] = "NaN"
        elif token == "inf":
            tokens[i] = "Infinity"
        elif token == "-inf":
            tokens[i] = "-Infinity"
    return tokens


def _nest(tokens: list[str], shape: tuple[int, ...]) -> str:
    """Nested JSON arrays of ``tokens`` (row-major) for ``shape``, as ``AddTensorValues`` writes
    them; a scalar is its token."""
    if not shape:
        return tokens[0]
    pieces = tokens
    for axis in range(len(shape) - 1, -1, -1):
        size = shape[axis]
        groups = int(np.prod(shape[:axis], dtype=np.int64))
        if size == 0:
            pieces = ["[]"] * groups
        else:
            pieces = [
                "[" + ",".join(pieces[i * size : (i + 1) * size]) + "]" for i in range(groups)
            ]
    return pieces[0]
