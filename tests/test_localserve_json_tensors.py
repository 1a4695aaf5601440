"""TF Serving's JSON ↔ tensor rules as tfcompare's local server applies them
(``tfcompare.localserve.json_tensors``, in-process: it imports no TensorFlow).

The expected messages are TF Serving's (tensorflow_serving/util/json_tensor.cc). The one-call
NumPy path must give exactly what the element-by-element walk gives, arrays and refusals alike:
checked on chosen cases and on generated JSON (Hypothesis).
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcompare.localserve import json_tensors as jt
from tfcompare.serving._protos import types_pb2 as T

F, U8 = T.DT_FLOAT, T.DT_UINT8


def parse(doc, inputs, *, fast=None):
    body = json.dumps(doc).encode()
    return jt.parse_predict(jt.loads(body), inputs, fast=jt.fast_ok(body) if fast is None else fast)


def error(doc, inputs) -> jt.JsonTensorError:
    with pytest.raises(jt.JsonTensorError) as caught:
        parse(doc, inputs)
    fast = caught.value
    with pytest.raises(jt.JsonTensorError) as caught:
        parse(doc, inputs, fast=False)
    assert (caught.value.code, caught.value.message) == (fast.code, fast.message)
    return fast


def test_numbers_become_the_signature_dtype():
    image = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3) / 7
    form, arrays = parse({"instances": image.tolist()}, {"x": F})
    assert form == "row" and arrays["x"].dtype == np.float32
    np.testing.assert_array_equal(arrays["x"], image)
    # integers are numbers for DT_FLOAT; DT_DOUBLE keeps double precision
    assert parse({"inputs": [[1, 2.5]]}, {"x": F})[1]["x"].tolist() == [[1.0, 2.5]]
    assert parse({"inputs": [0.1]}, {"x": T.DT_DOUBLE})[1]["x"][0] == 0.1
    # integer types: C++ narrowing as in Tensor::FromProto (int_val → uint8/int8/int16)
    wrapped = parse({"inputs": [[300, -1, 255, 0]]}, {"x": U8})[1]["x"]
    assert wrapped.dtype == np.uint8 and wrapped.tolist() == [[44, 255, 255, 0]]
    assert parse({"inputs": [200]}, {"x": T.DT_INT8})[1]["x"].tolist() == [-56]
    assert parse({"inputs": [2**40]}, {"x": T.DT_INT64})[1]["x"].tolist() == [2**40]
    assert parse({"inputs": [True, False]}, {"x": T.DT_BOOL})[1]["x"].tolist() == [True, False]
    # scalars, empty lists, named instances, two inputs
    assert parse({"inputs": 2.5}, {"x": F})[1]["x"].shape == ()
    assert parse({"inputs": [[], []]}, {"x": F})[1]["x"].shape == (2, 0)
    form, arrays = parse(
        {"instances": [{"a": [1, 2], "b": 5}, {"b": 6, "a": [3, 4]}]}, {"a": F, "b": T.DT_INT32}
    )
    assert arrays["a"].tolist() == [[1, 2], [3, 4]] and arrays["b"].tolist() == [5, 6]
    assert arrays["b"].dtype == np.int32
    # NaN and Infinity literals are numbers, as with rapidjson's kParseNanAndInfFlag
    value = jt.parse_predict(jt.loads(b'{"inputs": [NaN, Infinity, -Infinity]}'), {"x": F})
    assert math.isnan(value[1]["x"][0]) and value[1]["x"][1:].tolist() == [math.inf, -math.inf]


def test_strings_and_base64():
    data = bytes(range(256))
    encoded = base64.b64encode(data).decode()
    arrays = parse({"instances": [{"b64": encoded}, "text"]}, {"s": T.DT_STRING})[1]
    assert arrays["s"].tolist() == [data, b"text"]
    # absl::Base64Unescape: padding optional, whitespace skipped
    unpadded = base64.b64encode(b"ab").decode().rstrip("=")
    assert parse({"inputs": [{"b64": unpadded + " \n"}]}, {"s": T.DT_STRING})[1]["s"][0] == b"ab"
    assert error({"inputs": [{"b64": "***"}]}, {"s": T.DT_STRING}).message == (
        "Unable to base64 decode"
    )
    assert error({"inputs": [{"b64": 1}]}, {"s": T.DT_STRING}).message == (
        'JSON Value: {"b64":1} not formatted correctly for base64 data'
    )


@pytest.mark.parametrize(
    ("doc", "inputs", "code", "message"),
    [
        (
            {"inputs": [[1.0, "a"]]},
            {"x": F},
            "INVALID_ARGUMENT",
            'JSON Value: "a" Type: String is not of expected type: float',
        ),
        (
            {"inputs": [[1.0, None]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "JSON Value: null Type: Null is not of expected type: float",
        ),
        (
            {"inputs": [[1, True]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "JSON Value: true Type: True is not of expected type: float",
        ),
        (
            {"inputs": [1.5]},
            {"x": U8},
            "INVALID_ARGUMENT",
            "JSON Value: 1.5 Type: Number is not of expected type: uint8",
        ),
        (
            {"inputs": [2**31]},
            {"x": T.DT_INT32},
            "INVALID_ARGUMENT",
            "JSON Value: 2147483648 Type: Number is not of expected type: int32",
        ),
        (
            {"inputs": [-1]},
            {"x": T.DT_UINT32},
            "INVALID_ARGUMENT",
            "JSON Value: -1 Type: Number is not of expected type: uint32",
        ),
        (
            {"inputs": [1]},
            {"x": T.DT_BOOL},
            "INVALID_ARGUMENT",
            "JSON Value: 1 Type: Number is not of expected type: bool",
        ),
        (
            {"inputs": [{"k": 1}]},
            {"x": F},
            "INVALID_ARGUMENT",
            'JSON Value: {"k":1} Type: Object is not of expected type: float',
        ),
        (
            {"inputs": [0.5]},
            {"x": T.DT_HALF},
            "UNIMPLEMENTED",
            "Conversion of JSON Value: 0.5 to type: half",
        ),
        (
            {"inputs": [[1, 2], [3]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            {"inputs": [[1, 2], [3, [4]]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "Encountered list at unexpected level: 2 expected < 2",
        ),
        (
            {"inputs": [[1, 2], 3]},
            {"x": F},
            "INVALID_ARGUMENT",
            "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        (
            {"instances": [[1, 2], [1, 2, 3]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 2 but got: 3",
        ),
        (
            {"instances": [[[1, 2]], [[1], [2]]]},
            {"x": F},
            "INVALID_ARGUMENT",
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting shape [1,2] but got: [2,1]",
        ),
        (
            {"instances": [[0.5]]},
            {"x": T.DT_HALF},
            "INVALID_ARGUMENT",
            "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
            "Conversion of JSON Value: 0.5 to type: half",
        ),
        (
            {"instances": [{"a": 1}, [1]]},
            {"a": F},
            "INVALID_ARGUMENT",
            "Expecting object but got list at item 1 of input list",
        ),
        (
            {"instances": [1, {"a": 1}]},
            {"a": F},
            "INVALID_ARGUMENT",
            "Expecting value/list but got object at item 1 of input list",
        ),
        (
            {"instances": [{"a": 1, "z": 2}]},
            {"a": F},
            "INVALID_ARGUMENT",
            "Failed to process element: 0 key: z of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON object: does not have named input: z",
        ),
        (
            {"instances": [{"a": 1}]},
            {"a": F, "b": F},
            "INVALID_ARGUMENT",
            "Failed to process element: 0 of 'instances' list. JSON object: {\"a\":1} keys must "
            "be equal to: a,b",
        ),
        (
            {"instances": [1]},
            {"a": F, "b": F},
            "INVALID_ARGUMENT",
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map",
        ),
        (
            {"inputs": [1]},
            {"a": F, "b": F},
            "INVALID_ARGUMENT",
            "inputs is a plain value/list, but expecting an object as multiple input tensors "
            "required as per tensorinfo_map",
        ),
        (
            {"inputs": {"a": [1]}},
            {"a": F, "b": F},
            "INVALID_ARGUMENT",
            "Missing named input: b in 'inputs' object.",
        ),
        (
            {"instances": 3},
            {"a": F},
            "INVALID_ARGUMENT",
            "JSON Value: {\"instances\":3} Expecting 'instances' to be an list/array",
        ),
        (
            {"instances": []},
            {"a": F},
            "INVALID_ARGUMENT",
            "JSON Value: {\"instances\":[]} No values in 'instances' array",
        ),
        (
            {"instances": [1], "inputs": [1]},
            {"a": F},
            "INVALID_ARGUMENT",
            'JSON Value: {"instances":[1],"inputs":[1]} Not formatted correctly expecting only '
            "one of 'inputs' or 'instances' keys to exist ",
        ),
        (
            {"signature_name": ""},
            {"a": F},
            "INVALID_ARGUMENT",
            "Missing 'inputs' or 'instances' key",
        ),
    ],
)
def test_refusals_in_tf_servings_words(doc, inputs, code, message):
    refused = error(doc, inputs)
    assert refused.code.name == code and refused.message == message


def test_long_values_are_cut_in_messages():
    refused = error({"instances": [{"a": list(range(500))}]}, {"a": F, "b": F})
    shown = refused.message.split("JSON object: ")[1].split(" keys must")[0]
    assert shown.startswith('{"a":[0,1,2,') and 256 <= len(shown) < 270


def test_documents_that_do_not_parse():
    for body, text in ((b"", "The document is empty"), (b"{nope", "JSON Parse error: ")):
        with pytest.raises(jt.JsonTensorError) as caught:
            jt.loads(body)
        assert text in caught.value.message


def test_answers_written_as_tf_serving_writes_them():
    values = np.array(
        [[0.1, 1.0, 1e-05, 123456789.0, 0.123456789, -2.5, np.nan, np.inf, -np.inf, 1e6]],
        dtype=np.float32,
    )
    text = jt.dumps_predict({"p": values}, "row").decode()
    assert text == (
        '{"predictions":[[0.1,1.0,1e-05,123456792.0,0.123456791,-2.5,NaN,Infinity,-Infinity,'
        "1e+06]]}"
    )
    outputs = {
        "classes": np.array([[b"cat", b"dog"], [b"a", b"\xff"]], dtype=object),
        "ids": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "image_bytes": np.array([b"\x00\x01", b"z"], dtype=object),
    }
    row = json.loads(jt.dumps_predict(outputs, "row"))
    assert row["predictions"][0] == {
        "classes": ["cat", "dog"],
        "ids": [1, 2],
        "image_bytes": {"b64": base64.b64encode(b"\x00\x01").decode()},
    }
    assert row["predictions"][1]["classes"] == ["a", {"b64": base64.b64encode(b"\xff").decode()}]
    columnar = json.loads(jt.dumps_predict(outputs, "columnar"))
    assert columnar["outputs"]["ids"] == [[1, 2], [3, 4]]
    maps = np.arange(2 * 4 * 4 * 10, dtype=np.float32).reshape(2, 4, 4, 10)
    assert np.array_equal(json.loads(jt.dumps_predict({"m": maps}, "row"))["predictions"], maps)
    assert json.loads(jt.dumps_predict({"m": np.zeros((2, 0, 3))}, "columnar")) == {
        "outputs": [[], []]
    }
    for outputs, message in (
        ({"h": np.zeros((1, 2), np.float16)}, "Failed to write JSON value for tensor type: half"),
        (
            {"a": np.zeros((1, 2)), "b": np.zeros((2, 2))},
            "Tensor name: b has inconsistent batch size: 2 expecting: 1",
        ),
        ({"s": np.float32(1.0)}, "Tensor name: s has no shape information "),
    ):
        with pytest.raises(jt.JsonTensorError) as caught:
            jt.dumps_predict(outputs, "row")
        assert caught.value.message == message
    assert json.loads(jt.dumps_predict({"s": np.float32(1.5)}, "columnar")) == {"outputs": 1.5}


def test_what_orjson_refuses_the_standard_library_reads():
    """orjson reads the documents; NaN/Infinity literals (numbers to rapidjson with
    kParseNanAndInfFlag) go to the standard library's reader. An integer beyond 64 bits is a
    double, as rapidjson reads it."""
    body = json.dumps({"instances": [[0.1, -2, 3e-7, 1e300]], "signature_name": "s"}).encode()
    assert jt.loads(body) == json.loads(body)
    assert math.isnan(jt.loads(b"[NaN]")[0]) and jt.loads(b"[-Infinity]") == [-math.inf]
    assert jt.loads(b"[" + b"9" * 30 + b"]") == [1e30]
    refused = error({"inputs": [int("9" * 30)]}, {"x": T.DT_INT64})
    assert refused.message == "JSON Value: 1e30 Type: Number is not of expected type: int64"


leaves = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, width=64),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.just({"b64": "AAEC"}),
    st.just({"k": 1}),
)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=24)
dense = st.integers(1, 3).flatmap(
    lambda rank: st.lists(st.integers(0, 3), min_size=rank, max_size=rank)
)
types = st.sampled_from(
    [
        T.DT_FLOAT,
        T.DT_DOUBLE,
        T.DT_INT32,
        T.DT_UINT8,
        T.DT_INT8,
        T.DT_INT64,
        T.DT_BOOL,
        T.DT_UINT32,
        T.DT_UINT64,
        T.DT_STRING,
        T.DT_HALF,
    ]
)


def _outcome(doc, inputs, fast):
    try:
        form, arrays = parse(doc, inputs, fast=fast)
    except jt.JsonTensorError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", form, {k: (v.dtype, v.shape, v.tolist()) for k, v in arrays.items()})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, dtype=types, row=st.booleans())
def test_the_numpy_path_matches_the_exact_walk(value, dtype, row):
    doc = {"instances": value} if row else {"inputs": value}
    # the server takes the NumPy path only where fast_ok(body) allows it (parse decides)
    fast, exact = _outcome(doc, {"x": dtype}, None), _outcome(doc, {"x": dtype}, False)
    if fast[0] == "ok" and exact[0] == "ok":
        for (dt1, shape1, list1), (dt2, shape2, list2) in zip(
            fast[2].values(), exact[2].values(), strict=True
        ):
            assert (dt1, shape1) == (dt2, shape2)
            np.testing.assert_array_equal(np.array(list1), np.array(list2))
    else:
        assert fast == exact


@settings(max_examples=150, deadline=None)
@given(shape=dense, dtype=types, data=st.data())
def test_dense_numbers_take_the_numpy_path_unchanged(shape, dtype, data):
    if dtype in (T.DT_STRING, T.DT_HALF, T.DT_BOOL):
        dtype = T.DT_FLOAT
    low, high = (0, 300) if dtype in (T.DT_UINT8, T.DT_UINT32, T.DT_UINT64) else (-300, 300)
    numbers = st.integers(low, high) if dtype != T.DT_FLOAT else st.floats(-1e6, 1e6)
    count = int(np.prod(shape))
    flat = data.draw(st.lists(numbers, min_size=count, max_size=count))
    value = np.array(flat, dtype=object).reshape(shape).tolist() if count else []
    if not count:
        return
    fast = parse({"inputs": value}, {"x": dtype}, fast=True)[1]["x"]
    exact = parse({"inputs": value}, {"x": dtype}, fast=False)[1]["x"]
    assert fast.dtype == exact.dtype == jt.NUMPY[dtype] and fast.shape == tuple(shape)
    np.testing.assert_array_equal(fast, exact)
