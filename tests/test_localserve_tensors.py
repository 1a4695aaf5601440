"""`tfcompare serve` with tensor-input models (decoded 4-D numeric images), as TF Serving serves
them: gRPC with ``tensor_content`` or typed fields, REST in the row (``instances``) and columnar
(``inputs``) formats, TF Serving's status codes and messages for wrong dtypes, shapes, ranks,
channels and input keys, float16 and uint8 round trips, warm-up and batching.

The models are tests/tensor_models.py's small Keras 3 exports; requests are made with the official
stubs (loaded without TensorFlow's runtime) and plain urllib.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from tensor_models import (
    KINDS,
    answer_array,
    predict_request,
    preprocess,
    write_warmup_records,
)

from tfcompare.serving._protos import (
    get_model_metadata_pb2,
    prediction_service_pb2_grpc,
    types_pb2,
)

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
GRPC_OPTIONS = [("grpc.max_receive_message_length", 64 << 20)]


def photos() -> list[Path]:
    found = sorted(SAMPLES.glob("*.jpg"))
    assert len(found) >= 2, "resources/samples/ should hold the sample photos"
    return found


def stub(backend) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(backend.grpc, options=GRPC_OPTIONS)
    )


def grpc_outputs(backend, kind: str, inputs: dict, *, typed: bool = False) -> dict:
    response = stub(backend).Predict(predict_request(kind, inputs, typed=typed), 60)
    assert response.model_spec.name == kind and response.model_spec.version.value == 1
    return {key: answer_array(proto) for key, proto in response.outputs.items()}


def grpc_error(backend, kind: str, inputs: dict, *, typed: bool = False) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub(backend).Predict(predict_request(kind, inputs, typed=typed), 60)
    return caught.value


def rest(backend, kind: str, body: object) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{backend.rest}/v1/models/{kind}:predict", data=data, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rest_ok(backend, kind: str, body: object) -> dict:
    status, answer = rest(backend, kind, body)
    assert status == 200, answer
    return answer


def rest_error(backend, kind: str, body: object, status: int = 400) -> str:
    got, answer = rest(backend, kind, body)
    assert got == status and list(answer) == ["error"], (got, answer)
    return answer["error"]


def batch_for(kind: str) -> dict[str, np.ndarray]:
    """Two sample photos as one batch per input (``dynamic``: at a small size of their own,
    both alike so that they stack)."""
    spec = KINDS[kind]
    pictures = [Image.open(p) for p in photos()[:2]]
    if spec.size is None:
        pictures = [p.resize((40, 28), Image.Resampling.BILINEAR) for p in pictures]
    arrays = np.concatenate([preprocess(kind, p) for p in pictures])
    inputs = {spec.keys[0]: arrays}
    if len(spec.keys) > 1:  # the second image input gets the pictures the other way round
        inputs[spec.keys[1]] = arrays[::-1].copy()
    return inputs


def rest_as_arrays(answer: dict, spec, row: bool) -> np.ndarray:
    value = answer["predictions"] if row else answer["outputs"]
    return np.asarray(value, dtype=np.float32)


# ------------------------------------------------------------------------ every kind, every way


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_answers_alike_over_grpc_and_rest(kind, tensor_backend):
    """The same batch over gRPC (tensor_content, typed fields) and REST (instances as plain
    lists or named objects; inputs as a plain list or a named object) gives the same answer,
    bit for bit once read back as float32. A DT_HALF input has no JSON conversion in TF Serving:
    REST refuses it with its message (UNIMPLEMENTED, 501; wrapped in INVALID_ARGUMENT, 400, for
    the row format)."""
    spec = KINDS[kind]
    backend = tensor_backend(kind)
    inputs = batch_for(kind)
    packed = grpc_outputs(backend, kind, inputs)
    assert list(packed) == [spec.output_key]
    reference = packed[spec.output_key]
    assert reference.shape == (2, *spec.output_shape) and reference.dtype == np.float32
    np.testing.assert_array_equal(
        grpc_outputs(backend, kind, inputs, typed=True)[spec.output_key], reference
    )
    if spec.output_kind == "softmax":
        np.testing.assert_allclose(reference.sum(axis=1), 1.0, rtol=1e-5)
        assert np.argmax(reference[0]) != np.argmax(reference[1]) or not np.allclose(
            reference[0], reference[1], atol=1e-4
        ), "two different photos, two different answers"

    names = list(inputs)
    lists = {k: v.tolist() for k, v in inputs.items()}
    bodies = {
        "instances, named": (
            True,
            {"instances": [{k: lists[k][i] for k in names} for i in (0, 1)]},
        ),
        "inputs, named": (False, {"inputs": lists}),
    }
    if len(names) == 1:
        bodies["instances, plain"] = (True, {"instances": lists[names[0]]})
        bodies["inputs, plain"] = (False, {"inputs": lists[names[0]]})
    for what, (row, body) in bodies.items():
        if spec.dtype == "float16":  # row errors are wrapped as INVALID_ARGUMENT (HTTP 400)
            message = rest_error(backend, kind, body, 400 if row else 501)
            assert message.startswith(
                "Failed to process element: 0 " if row else "Conversion of JSON Value: "
            ), what
            assert message.endswith(" to type: half"), what
            continue
        answer = rest_ok(backend, kind, body)
        assert list(answer) == ["predictions" if row else "outputs"], what
        np.testing.assert_array_equal(rest_as_arrays(answer, spec, row), reference, err_msg=what)

    # the metadata names what the client must send
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = kind
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    stub(backend).GetModelMetadata(request, 30).metadata["signature_def"].Unpack(sig_map)
    assert {"serving_default", "serve"} <= set(sig_map.signature_def)
    sig = sig_map.signature_def["serving_default"]
    assert sorted(sig.inputs) == sorted(spec.keys) and list(sig.outputs) == [spec.output_key]
    dims = [d.size for d in sig.inputs[names[0]].tensor_shape.dim]
    assert dims == [-1, *inputs[names[0]].shape[1:]] if spec.size else dims == [-1, -1, -1, 3]
    assert (
        sig.inputs[names[0]].dtype
        == {
            "float32": types_pb2.DT_FLOAT,
            "float16": types_pb2.DT_HALF,
            "uint8": types_pb2.DT_UINT8,
        }[spec.dtype]
    )


# ------------------------------------------------------------------------ dtypes: round trips


def test_float16_and_uint8_arrive_intact(tensor_backend):
    """A DT_HALF tensor (``half_val`` bit patterns or packed) reaches the model bit for bit: the
    float16 model answers exactly as its float32 twin does on the same values. A DT_UINT8 tensor
    (``int_val`` or packed, REST integers) reaches the uint8 model as the same bytes; out-of-range
    values wrap as TensorFlow's C++ cast wraps them (300 → 44, -1 → 255), over gRPC and REST."""
    f32 = tensor_backend("nhwc-float32", rest=False)
    f16 = tensor_backend("float16", rest=False)
    u8 = tensor_backend("uint8")
    x16 = batch_for("float16")["image"]
    assert x16.dtype == np.float16
    twin = grpc_outputs(f32, "nhwc-float32", {"keras_tensor": x16.astype(np.float32)})["output_0"]
    for typed in (False, True):
        half = grpc_outputs(f16, "float16", {"image": x16}, typed=typed)["probabilities"]
        np.testing.assert_array_equal(half, twin)
    # one float16 step changes the answer: the values are not rounded on the way
    nudged = x16.copy()
    nudged.view(np.uint16)[0, :8, :8, :] += 64
    assert not np.array_equal(
        grpc_outputs(f16, "float16", {"image": nudged})["probabilities"], twin
    )

    x8 = batch_for("uint8")["image"]
    assert x8.dtype == np.uint8
    scaled = x8.astype(np.float32) * np.float32(1 / 127.5) + np.float32(-1.0)
    expected = grpc_outputs(f32, "nhwc-float32", {"keras_tensor": scaled})["output_0"]
    answers = [grpc_outputs(u8, "uint8", {"image": x8}, typed=t)["probabilities"] for t in (0, 1)]
    answers.append(np.asarray(rest_ok(u8, "uint8", {"instances": x8.tolist()})["predictions"]))
    for answer in answers:
        np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-7)

    wrapped = x8.astype(np.int32)
    wrapped[0, 0, 0] = [300, -1, 256 + 7]  # as uint8: 44, 255, 7
    same = x8.copy()
    same[0, 0, 0] = [44, 255, 7]
    reference = grpc_outputs(u8, "uint8", {"image": same})["probabilities"]
    request = predict_request("uint8", {"image": wrapped.astype(np.int32)}, typed=True)
    request.inputs["image"].dtype = types_pb2.DT_UINT8  # int_val holds the int32 values
    response = stub(u8).Predict(request, 60)
    np.testing.assert_array_equal(answer_array(response.outputs["probabilities"]), reference)
    over_rest = rest_ok(u8, "uint8", {"inputs": wrapped.tolist()})["outputs"]
    np.testing.assert_array_equal(np.asarray(over_rest, dtype=np.float32), reference)
    # rapidjson's IsInt: 1.0 is a double, refused for an integer type; so is 2**31
    for bad, text in (
        (1.0, "JSON Value: 1.0 Type: Number is not of expected type: uint8"),
        (2**31, f"JSON Value: {2**31} Type: Number is not of expected type: uint8"),
        (True, "JSON Value: true Type: True is not of expected type: uint8"),
    ):
        body = wrapped.tolist()
        body[1][5][5][1] = bad
        message = rest_error(u8, "uint8", {"instances": body})
        expected = "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        assert message == expected + text, message


# ------------------------------------------------------------------------ TF Serving's refusals


def test_wrong_dtype_shape_rank_and_channels(tensor_backend):
    """What TF Serving answers for a tensor that does not fit, with its words: the session's
    dtype check, the graph's own ops for a wrong size or channel count (the same text over gRPC
    and REST), TensorFlow's feed check for a wrong rank; the server keeps serving."""
    kind = "nhwc-float32"
    backend = tensor_backend(kind)
    good = batch_for(kind)["keras_tensor"]
    for dtype, name in ((np.float64, "double"), (np.float16, "half"), (np.uint8, "uint8")):
        for typed in (False, True):
            err = grpc_error(backend, kind, {"keras_tensor": good.astype(dtype)}, typed=typed)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.details() == f"Expects arg[0] to be float but {name} is provided"

    cases = {
        "64 × 64 into a 32 × 32 model": (
            np.zeros((1, 64, 64, 3), np.float32),
            "Input to reshape is a tensor with 1536 values, but the requested shape has 384",
        ),
        "one channel into an RGB model": (
            np.zeros((1, 32, 32, 1), np.float32),
            "input depth must be evenly divisible by filter depth: 1 vs 3",
        ),
        "NCHW into an NHWC model": (
            np.zeros((1, 3, 32, 32), np.float32),
            "input depth must be evenly divisible by filter depth: 32 vs 3",
        ),
    }
    for what, (array, text) in cases.items():
        err = grpc_error(backend, kind, {"keras_tensor": array})
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, what
        assert err.details().startswith(text) and "[[{{" in err.details(), (what, err.details())
        assert rest_error(backend, kind, {"inputs": array.tolist()}) == err.details(), what

    for array in (good[0], good[None]):  # no batch dimension; one too many
        err = grpc_error(backend, kind, {"keras_tensor": array})
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == (
            f"Cannot feed value of shape {array.shape} for Tensor "
            "serving_default_keras_tensor:0, which has shape (None, 32, 32, 3)"
        )
        assert rest_error(backend, kind, {"inputs": array.tolist()}) == err.details()

    # REST: values TF Serving's JSON reader refuses, and lists that are not a dense tensor
    ragged = good[:1].tolist()
    ragged[0][3][4] = [0.5, 0.5]
    cases_rest = {
        "string": (
            {"instances": [[[["x"] * 3] * 32] * 32]},
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            'JSON Value: "x" Type: String is not of expected type: float',
        ),
        "ragged": (
            {"instances": ragged},
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Encountered list at unexpected size: 2 at level: 2 expected size: 3",
        ),
        "rows of two sizes": (
            {"instances": [good[0].tolist(), good[0, :16, :16].tolist()]},
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 3072 but got: 768",
        ),
        "a number where a list belongs": (
            {"inputs": [[[[1.0, 2.0, 3.0], 4.0]]]},
            "JSON Value: 4.0 found at incorrect level: 4 in the JSON DOM. Expected at level: 4",
        ),
        "a boolean among numbers": (
            {"inputs": [[[[0.5, True, 0.5]]]]},
            "JSON Value: true Type: True is not of expected type: float",
        ),
        "no instances": (
            {"instances": []},
            "JSON Value: {\"instances\":[]} No values in 'instances' array",
        ),
    }
    for what, (body, text) in cases_rest.items():
        assert rest_error(backend, kind, body) == text, what
    assert np.array_equal(
        grpc_outputs(backend, kind, {"keras_tensor": good})["output_0"],
        np.asarray(rest_ok(backend, kind, {"instances": good.tolist()})["predictions"], np.float32),
    )


def test_missing_extra_and_wrong_input_keys(tensor_backend):
    """Input keys that do not match the signature: TF Serving's Predict messages over gRPC
    (predict_util.cc, tensorflow/cc/saved_model/util.cc) and its JSON reader's over REST."""
    kind = "two-images"
    backend = tensor_backend(kind)
    inputs = batch_for(kind)
    a, b = inputs["image_a"], inputs["image_b"]
    cases = {
        "one missing": (
            {"image_a": a},
            "input size does not match signature: 1!=2 len({image_a}) != len({image_a,image_b}). "
            "Sent extra: {}. Missing but required: {image_b}.",
        ),
        "one extra": (
            {"image_a": a, "image_b": b, "mask": a},
            "input size does not match signature: 3!=2 len({image_a,image_b,mask}) != "
            "len({image_a,image_b}). Sent extra: {mask}. Missing but required: {}.",
        ),
        "one misnamed": (
            {"image_a": a, "image_c": b},
            "Signature input alias: image_b(feed name: serving_default_image_b:0) not found in "
            "request and no default value provided. Inputs expected to be in the request "
            "{image_a,image_c}, or default input alias set: ",
        ),
    }
    for what, (sent, text) in cases.items():
        err = grpc_error(backend, kind, sent)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, what
        assert err.details() == text, (what, err.details())

    la, lb = a.tolist(), b.tolist()
    rest_cases = {
        "inputs: one missing": (
            {"inputs": {"image_a": la}},
            "Missing named input: image_b in 'inputs' object.",
        ),
        "inputs: a plain list": (
            {"inputs": la},
            "inputs is a plain value/list, but expecting an object as multiple input tensors "
            "required as per tensorinfo_map",
        ),
        "instances: plain lists": (
            {"instances": la},
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map",
        ),
        "instances: an unknown key": (
            {"instances": [{"image_a": la[0], "image_b": lb[0], "mask": 1.0}]},
            "Failed to process element: 0 key: mask of 'instances' list. Error: "
            "INVALID_ARGUMENT: JSON object: does not have named input: mask",
        ),
    }
    for what, (body, text) in rest_cases.items():
        assert rest_error(backend, kind, body) == text, what
    # a key missing from an instance: its keys listed (cut after 256 bytes, as TF Serving does)
    message = rest_error(backend, kind, {"instances": [{"image_a": la[0]}]})
    assert message.startswith(
        "Failed to process element: 0 of 'instances' list. JSON object: {\"image_a\":[[["
    )
    assert message.endswith(" keys must be equal to: image_a,image_b"), message
    # TF Serving ignores keys of an 'inputs' object that the signature does not have
    answer = rest_ok(backend, kind, {"inputs": {"image_a": la, "image_b": lb, "extra": 1}})
    np.testing.assert_array_equal(
        np.asarray(answer["outputs"], np.float32),
        grpc_outputs(backend, kind, inputs)["probabilities"],
    )


def test_rest_answers_as_tf_serving_writes_them(tensor_backend):
    """Row and columnar answers of a non-vector output (a [-1, 4, 4, 10] feature map), floats
    written with six significant digits when they read back unchanged, nine otherwise."""
    kind = "feature-map"
    backend = tensor_backend(kind)
    inputs = batch_for(kind)
    raw = urllib.request.urlopen(
        urllib.request.Request(
            f"http://{backend.rest}/v1/models/{kind}:predict",
            data=json.dumps({"inputs": inputs["image"].tolist()}).encode(),
        ),
        timeout=60,
    ).read()
    answer = json.loads(raw)
    maps = np.asarray(answer["outputs"], np.float32)
    assert maps.shape == (2, 4, 4, 10)
    numbers = [t for t in raw.decode().replace("[", " ").replace("]", " ").split(",") if t.strip()]
    numbers[0] = numbers[0].split(":")[-1]
    for token, value in zip(numbers, maps.ravel(), strict=True):
        token = token.strip().rstrip("}").strip()
        digits = len(token.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))
        assert np.float32(token) == value, token
        assert digits <= 6 or (digits <= 9 and np.float32(f"{value:.6g}") != value), token
        assert "." in token or "e" in token, token
    rows = rest_ok(backend, kind, {"instances": inputs["image"].tolist()})["predictions"]
    np.testing.assert_array_equal(np.asarray(rows, np.float32), maps)


# ------------------------------------------------------------------------ warm-up


def test_tensor_models_warm_up_by_themselves_and_from_records(
    tensor_model_base, tensor_backend, tmp_path
):
    """A tensor model without warm-up records is warmed with zeros of its signatures' shapes
    (dynamic height and width as 224); records holding tensor requests are replayed instead,
    and one the model refuses stops the start, as in TF Serving."""
    for kind in ("nhwc-float32", "dynamic"):
        backend = tensor_backend(kind, rest=False)
        assert "warmed up with 2 request(s)" in backend.log_tail(), backend.log_tail()
        backend.stop()

    base = tmp_path / "with-records"
    shutil.copytree(tensor_model_base("nchw-float32"), base)
    x = batch_for("nchw-float32")["input"]
    requests = [predict_request("m", {"input": x[i : i + 1]}) for i in range(2)]
    requests.append(predict_request("m", {"input": x}, typed=True))
    write_warmup_records(base / "1", requests)
    from backends import start_backend

    backend = start_backend(base, model_name="m", log_dir=tmp_path)
    try:
        assert "warmed up with 3 request(s)" in backend.log_tail(), backend.log_tail()
        assert grpc_outputs(backend, "m", {"input": x})["logits"].shape == (2, 1000)
    finally:
        backend.stop()

    write_warmup_records(base / "1", [predict_request("m", {"input": x.astype(np.float64)})])
    with pytest.raises(RuntimeError) as failed:
        start_backend(base, model_name="m", log_dir=tmp_path)
    assert "warm-up failed: Expects arg[0] to be float but double is provided" in str(failed.value)


# ------------------------------------------------------------------------ batching


def _batching_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _concurrently(calls) -> list:
    """Run the calls at once on threads; their results (or exceptions) in order."""
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _batch_sizes(backend) -> tuple[float, float]:
    """(sum, count) of TF Serving's processed_batch_size histogram on the REST port."""
    page = urllib.request.urlopen(
        f"http://{backend.rest}/monitoring/prometheus/metrics", timeout=30
    ).read()
    values = {}
    for line in page.decode().splitlines():
        for suffix in ("_sum", "_count"):
            name = ":tensorflow:serving:batching_session:processed_batch_size" + suffix
            if line.startswith(name + " "):
                values[suffix] = float(line.split()[-1])
    return values.get("_sum", 0.0), values.get("_count", 0.0)


def test_batching_tensor_inputs(tensor_backend, tmp_path):
    """--enable-batching with tensor inputs: requests of one shape run as one batch and each
    gets its own answer. Requests of different heights and widths (a dynamic-size model) fail
    their whole batch with TF Serving's FAILED_PRECONDITION, unless pad_variable_length_inputs
    is set: then each is padded at the end with its own first value, as TF Serving pads."""
    kind = "nhwc-float32"
    params = "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 5000000 }\n"
    batched = tensor_backend(
        kind,
        extra_args=["--batching-parameters", _batching_file(tmp_path, "b.txt", params)],
    )
    single = tensor_backend(kind, rest=False)
    pictures = [preprocess(kind, p) for p in photos()] * 2
    pictures = pictures[:4]
    expected = [grpc_outputs(single, kind, {"keras_tensor": x})["output_0"] for x in pictures]
    results = _concurrently(
        [lambda x=x: grpc_outputs(batched, kind, {"keras_tensor": x}) for x in pictures]
    )
    for got, want in zip(results, expected, strict=True):
        assert not isinstance(got, Exception), got
        np.testing.assert_allclose(got["output_0"], want, rtol=1e-5, atol=1e-7)
    total, batches = _batch_sizes(batched)
    assert (total, batches) == (4.0, 1.0), "the four requests ran as one batch of four"

    kind = "dynamic"
    small = preprocess(kind, Image.open(photos()[0]).resize((40, 28)))
    large = preprocess(kind, Image.open(photos()[1]).resize((48, 36)))
    params = "max_batch_size { value: 2 }\nbatch_timeout_micros { value: 5000000 }\n"
    strict = tensor_backend(
        kind, extra_args=["--batching-parameters", _batching_file(tmp_path, "s.txt", params)]
    )
    results = _concurrently(
        [lambda x=x: grpc_outputs(strict, kind, {"image": x}) for x in (small, large)]
    )
    for err in results:
        assert isinstance(err, grpc.RpcError), err
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.details() == (
            "Tensors with name 'serving_default_image:0' from different tasks have different "
            "shapes and padding is turned off. Set pad_variable_length_inputs to true, or ensure "
            "that all tensors with the same name have equal dimensions starting with the first "
            "dim."
        )
    strict.stop()

    padding = tensor_backend(
        kind,
        extra_args=[
            "--batching-parameters",
            _batching_file(tmp_path, "p.txt", params + "pad_variable_length_inputs: true\n"),
        ],
    )
    unbatched = tensor_backend(kind, rest=False)
    results = _concurrently(
        [lambda x=x: grpc_outputs(padding, kind, {"image": x}) for x in (small, large)]
    )
    widths = [(0, 0), (0, 8), (0, 8), (0, 0)]
    padded_small = np.pad(small, widths, constant_values=small.flat[0])
    for got, sent in zip(results, (padded_small, large), strict=True):
        assert not isinstance(got, Exception), got
        want = grpc_outputs(unbatched, kind, {"image": sent})["probabilities"]
        np.testing.assert_allclose(got["probabilities"], want, rtol=1e-5, atol=1e-7)
    own = grpc_outputs(unbatched, kind, {"image": small})["probabilities"]
    assert not np.allclose(results[0]["probabilities"], own), "the padding changed its answer"
