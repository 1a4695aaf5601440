"""The Open Inference Protocol's pieces without a server: tfcompare's .proto against the ones
KServe and MLServer ship, datatypes and raw contents, metadata → the input kind, REST answers
(binary and JSON, honest and lying), backend specs (schemes, ``input=``), and the MLServer and
KServe metrics formats read from pages their own exporter (prometheus_client) writes."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from oip_servers import env_python
from prometheus_client import CollectorRegistry, Histogram, Summary, generate_latest

from tfcompare.serving import grpc_predict_v2_pb2 as pb
from tfcompare.serving import oip, protocols
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import EncodedImageInput, ImageTensorInput, RequestInput
from tfcompare.serving.oip_grpc_client import infer_request, response_arrays
from tfcompare.serving.oip_rest_client import (
    answer_arrays,
    binary_body,
    json_body,
    takes_binary,
)
from tfcompare.serving.server_metrics import format_of, parse_metrics

# --------------------------------------------------------------------------- the .proto

_DUMP = """
import json, sys
from google.protobuf.descriptor import FieldDescriptor
def fields(message, out):
    out[message.full_name] = {
        f.name: [f.number, f.type, f.message_type.full_name if f.message_type else None,
                 getattr(f, "is_repeated", None) if hasattr(f, "is_repeated")
                 else f.label == FieldDescriptor.LABEL_REPEATED]
        for f in message.fields
    }
    for nested in message.nested_types:
        fields(nested, out)
def dump(file):
    out = {}
    for message in file.message_types_by_name.values():
        fields(message, out)
    service = file.services_by_name["GRPCInferenceService"]
    methods = {m.name: [m.input_type.full_name, m.output_type.full_name] for m in service.methods}
    return {"messages": out, "methods": methods}
"""


def _theirs(env: str, module: str) -> dict:
    code = _DUMP + f"import {module} as m\nprint(json.dumps(dump(m.DESCRIPTOR)))\n"
    proc = subprocess.run(
        [str(env_python(env)), "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ours() -> dict:
    scope: dict = {}
    exec(_DUMP, scope)
    return json.loads(json.dumps(scope["dump"](pb.DESCRIPTOR)))


@pytest.mark.slow  # reads the servers' own modules in their test environments' interpreters
@pytest.mark.parametrize(
    "env, module",
    [
        ("kserve", "kserve.protocol.grpc.grpc_predict_v2_pb2"),
        ("mlserver", "mlserver.grpc.dataplane_pb2"),
    ],
)
def test_the_proto_matches_the_servers_own(env, module):
    """Every message, field (number, type, repeated) and method tfcompare declares is the same
    in the descriptor KServe / MLServer compile their servers from."""
    ours, theirs = _ours(), _theirs(env, module)
    assert set(ours["methods"]) <= set(theirs["methods"])
    for name, types in ours["methods"].items():
        assert theirs["methods"][name] == types, name
    for message, fields in ours["messages"].items():
        if message.endswith("Entry"):  # map entries: key/value, checked through their map
            continue
        assert message in theirs["messages"], message
        for field, spec in fields.items():
            assert theirs["messages"][message].get(field) == spec, (message, field)


def test_a_request_holds_the_input_in_raw_form():
    value = RequestInput(
        "image", "float32", (1, 2, 2, 3), np.arange(12, dtype="<f4").reshape(1, 2, 2, 3)
    )
    req = pb.ModelInferRequest.FromString(infer_request("m", "2", value).SerializeToString())
    assert (req.model_name, req.model_version) == ("m", "2")
    tensor = req.inputs[0]
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("image", "FP32", [1, 2, 2, 3])
    assert req.raw_input_contents[0] == np.arange(12, dtype="<f4").tobytes()
    image = RequestInput("image_bytes", "string", (1,), b"\xff\xd8jpeg")
    req = infer_request("m", "", image)
    assert req.inputs[0].datatype == "BYTES"
    assert req.raw_input_contents[0] == (6).to_bytes(4, "little") + b"\xff\xd8jpeg"


# --------------------------------------------------------------------------- datatypes, raw


@pytest.mark.parametrize(
    "datatype, name",
    [
        ("BOOL", "bool"),
        ("UINT8", "uint8"),
        ("UINT64", "uint64"),
        ("INT8", "int8"),
        ("INT64", "int64"),
        ("FP16", "float16"),
        ("FP32", "float32"),
        ("FP64", "float64"),
        ("BF16", "bfloat16"),
        ("BYTES", "string"),
        ("COMPLEX64", "COMPLEX64"),  # unknown: kept, so errors name it as the server did
    ],
)
def test_datatypes(datatype, name):
    assert oip.numpy_name(datatype) == name


def test_raw_outputs_of_every_datatype():
    for datatype, dtype in [
        ("FP32", "<f4"),
        ("FP64", "<f8"),
        ("FP16", "<f2"),
        ("INT64", "<i8"),
        ("INT32", "<i4"),
        ("UINT8", "<u1"),
        ("BOOL", "?"),
    ]:
        values = np.arange(6).astype(dtype).reshape(2, 3)
        got = oip.from_raw(datatype, [2, 3], values.tobytes())
        assert got.dtype == np.dtype(dtype) and np.array_equal(got, values), datatype
    one = np.array([1.5, -2.0], dtype=np.float32)
    bf16 = (one.view(np.uint32) >> 16).astype("<u2").tobytes()
    assert np.array_equal(oip.from_raw("BF16", [2], bf16), one)
    names = oip.from_raw("BYTES", [1, 2], oip.pack_bytes([b"cat", b""]))
    assert names.tolist() == [[b"cat", b""]]


@pytest.mark.parametrize(
    "datatype, shape, raw, says",
    [
        ("FP32", [1, 1000], b"\0" * 400, "needs 4000 bytes, the answer holds 400"),
        ("FP32", [1, 10**12], b"\0" * 4, "claims"),  # nothing allocated for the claim
        ("FP32", [1, -5], b"", "negative"),
        ("BYTES", [1], (99).to_bytes(4, "little") + b"abc", "claims 99 bytes"),
        ("BYTES", [2], oip.pack_bytes([b"a"]), "hold 1 elements, the shape needs 2"),
        ("BYTES", [1], b"\1\0", "inside an element's 4-byte length"),
        ("COMPLEX64", [1], b"\0" * 8, "not one tfcompare reads"),
    ],
)
def test_raw_outputs_that_do_not_fit(datatype, shape, raw, says):
    with pytest.raises(ValueError, match=says):
        oip.from_raw(datatype, shape, raw)


def test_typed_contents_of_a_grpc_answer():
    resp = pb.ModelInferResponse(model_name="m", model_version="3")
    out = resp.outputs.add(name="probabilities", datatype="FP32", shape=[1, 3])
    out.contents.fp32_contents.extend([0.1, 0.7, 0.2])
    names = resp.outputs.add(name="classes", datatype="BYTES", shape=[1, 1])
    names.contents.bytes_contents.append(b"tabby")
    arrays = response_arrays(resp)
    assert np.allclose(arrays["probabilities"], [[0.1, 0.7, 0.2]])
    assert arrays["classes"].tolist() == [[b"tabby"]]
    half = pb.ModelInferResponse()
    half.outputs.add(name="x", datatype="FP16", shape=[1])
    with pytest.raises(ValueError, match="no typed field"):
        response_arrays(half)
    mixed = pb.ModelInferResponse()
    mixed.outputs.add(name="a", datatype="FP32", shape=[1])
    mixed.outputs.add(name="b", datatype="FP32", shape=[1])
    mixed.raw_output_contents.append(b"\0" * 4)
    with pytest.raises(ValueError, match="2 outputs but 1 raw contents"):
        response_arrays(mixed)


# --------------------------------------------------------------------------- metadata


def _sig(inputs, outputs=(), declared=None):
    infos = [oip.tensor_info(*i) for i in inputs]
    outs = [oip.tensor_info(*o) for o in outputs]
    return oip.signature(infos, outs, model="m", where="h:1", declared=declared, version=None)


def test_metadata_chooses_the_input_kind():
    sig = _sig([("image", "FP32", [-1, 224, 224, 3])], [("probabilities", "FP32", [-1, 1000])])
    assert isinstance(sig.input, ImageTensorInput)
    assert (sig.input_key, sig.input_dtype, sig.num_classes) == ("image", "FP32", 1000)
    assert sig.input.layout.describe() == "float32 224×224×3 NHWC"
    sig = _sig([("input", "FP16", [-1, 3, 64, 64])])
    assert sig.input.layout.layout == "NCHW" and sig.input.layout.dtype == "float16"
    sig = _sig([("image_bytes", "BYTES", [-1])], [("classes", "BYTES", [-1, 5])])
    assert isinstance(sig.input, EncodedImageInput) and sig.input_dtype == "BYTES"


def test_metadata_that_does_not_fit_is_named():
    with pytest.raises(ServingError, match=r"image \(float32 \[32, 32, 3\]\)"):
        _sig([("image", "FP32", [32, 32, 3])])  # no batch dimension: not a 4-D image
    with pytest.raises(ServingError, match="BF16|bfloat16"):
        _sig([("image", "BF16", [-1, 32, 32, 3])])
    with pytest.raises(ServingError, match="input=bytes"):
        _sig([])  # KServe's custom models list no inputs


def test_a_declared_input_wins_and_keeps_the_models_name():
    sig = _sig([("pixels", "FP32", [-1, 8, 8, 3])], declared="float32:32x32x3")
    assert sig.input_key == "pixels" and sig.input.layout.height == 32
    sig = _sig([], declared="img:uint8:?x?x3:nchw")
    assert sig.input_key == "img" and sig.input.layout.layout == "NCHW"
    assert sig.input.layout.height is None and sig.input_dtype == "UINT8"
    assert _sig([], declared="bytes").input_key == "input"


# --------------------------------------------------------------------------- REST bodies


def _tensor() -> RequestInput:
    return RequestInput(
        "image", "float32", (1, 2, 1, 3), np.arange(6, dtype=np.float32).reshape(1, 2, 1, 3)
    )


def test_json_body():
    doc = json.loads(json_body(_tensor()))
    assert doc == {
        "inputs": [
            {"name": "image", "shape": [1, 2, 1, 3], "datatype": "FP32", "data": [0, 1, 2, 3, 4, 5]}
        ]
    }
    doc = json.loads(json_body(RequestInput("b", "string", (1,), b"\xff\x00")))
    assert doc["inputs"][0]["parameters"] == {"content_type": "base64"}
    assert doc["inputs"][0]["data"] == ["/wA="] and doc["inputs"][0]["datatype"] == "BYTES"


def test_binary_body():
    body, length = binary_body(_tensor(), ("probabilities",))
    header = json.loads(body[:length])
    assert header["inputs"][0]["parameters"] == {"binary_data_size": 24}
    assert header["outputs"] == [{"name": "probabilities", "parameters": {"binary_data": True}}]
    assert header["parameters"] == {"binary_data_output": True}
    assert body[length:] == np.arange(6, dtype="<f4").tobytes()


def test_which_servers_get_binary_tensors():
    assert takes_binary("triton", "2.50.0", ("classification", "binary_tensor_data")) == (
        True,
        True,
    )
    assert takes_binary("kserve", "0.21.0", ("model_repository_extension",)) == (True, False)
    assert takes_binary("kserve", "0.12.1", ()) == (False, False)
    assert takes_binary("mlserver", "1.7.1", ()) == (False, False)


def _binary_answer(*outputs: tuple[str, list[int], bytes], header_length=None, extra=b""):
    doc = {
        "model_name": "m",
        "outputs": [
            {"name": n, "datatype": "FP32", "shape": s, "parameters": {"binary_data_size": len(r)}}
            for n, s, r in outputs
        ],
    }
    text = json.dumps(doc).encode()
    body = text + b"".join(r for _, _, r in outputs) + extra
    length = len(text) if header_length is None else header_length
    return {"inference-header-content-length": str(length)}, body


def test_binary_answers():
    probs = np.linspace(0, 1, 10, dtype="<f4")
    arrays, doc = answer_arrays(*_binary_answer(("p", [1, 10], probs.tobytes())))
    assert np.array_equal(arrays["p"], probs.reshape(1, 10)) and doc["model_name"] == "m"
    arrays, _ = answer_arrays(
        {},
        json.dumps(
            {
                "outputs": [
                    {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [[0.25, 0.75]]}
                ]
            }
        ).encode(),
    )
    assert arrays["p"].tolist() == [[0.25, 0.75]]


@pytest.mark.parametrize(
    "headers_body, says",
    [
        (
            _binary_answer(("p", [1, 10], b"\0" * 40), header_length=10_000),
            "says the JSON part is 10000 bytes, but the body has",
        ),
        (_binary_answer(("p", [1, 10], b"\0" * 40), header_length=20), "not JSON"),
        (
            _binary_answer(("p", [1, 10], b"\0" * 40), extra=b"\0" * 8),
            "8 bytes of binary data follow",
        ),
        (_binary_answer(("p", [1, 100], b"\0" * 40)), "needs 400 bytes, the answer holds 40"),
        ({"inference-header-content-length": "many"}, "not a number"),
        (
            (
                {},
                b'{"outputs": [{"name": "p", "datatype": "FP32", "shape": [1, 3], "data": [1, 2]}]}',
            ),
            "needs 3 values",
        ),
        (
            ({}, b'{"outputs": [{"name": "p", "datatype": "FP32", "shape": "big", "data": []}]}'),
            "no usable shape",
        ),
        (({}, b'{"outputs": 7}'), "no list of outputs"),
        (({}, b"<html>oops</html>"), "not JSON"),
    ],
)
def test_answers_that_lie(headers_body, says):
    if isinstance(headers_body, dict):  # a header alone, for any body
        headers_body = (headers_body, b"{}")
    with pytest.raises(ValueError, match=says):
        answer_arrays(*headers_body)


def test_binary_output_size_past_the_end():
    headers, body = _binary_answer(("p", [1, 10], b"\0" * 40))
    with pytest.raises(ValueError, match="claims 40 bytes of binary data but only 12 follow"):
        answer_arrays(headers, body[:-28])


# --------------------------------------------------------------------------- specs


def test_spec_forms():
    spec = BackendSpec.parse("mls=v2://127.0.0.1:8081/m:v1")
    assert (spec.protocol, spec.model, spec.version) == ("v2", "m", "v1")
    spec = BackendSpec.parse("t=v2+http://h:8000/resnet:2,host=resnet.default.example.com")
    assert (spec.protocol, spec.version, spec.host_header) == (
        "v2+http",
        "2",
        "resnet.default.example.com",
    )
    spec = BackendSpec.parse("k=kserve+http://h:8080/m,input=float32:224x224x3:nchw")
    assert spec.protocol == "kserve+http" and spec.input == "float32:224x224x3:nchw"
    assert BackendSpec.parse(spec.spec_text()) == spec
    assert BackendSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    spec = BackendSpec.parse("c=k8s://ns/triton/m,protocol=v2,input=bytes")
    assert (spec.protocol, spec.input) == ("v2", "bytes")


@pytest.mark.parametrize(
    "text, says",
    [
        ("t=127.0.0.1:8500/m,input=bytes", "input= is for servers whose metadata"),
        ("k=kserve+http://h:8080/m,input=float32", "input must be bytes or DTYPE:HxWxC"),
        ("k=kserve+http://h:8080/m,input=float32:3x224x224", "channels-first"),
        ("k=kserve+http://h:8080/m,input=float32:99999x2x3", "height and width must be"),
        ("k=v2://h:8081/m,protocol=grpc", "the scheme says v2"),
    ],
)
def test_bad_specs(text, says):
    with pytest.raises(ValueError, match=says):
        BackendSpec.parse(text)
    if "input=" in text and "127.0.0.1:8500" not in text:
        with pytest.raises(ValueError):
            BackendSpec.from_dict(
                {
                    "name": "k",
                    "target": "h:8080",
                    "protocol": "kserve+http",
                    "input": text.split("input=")[1],
                }
            )


def test_where_metrics_are_looked_for():
    v2, rest, v1 = (protocols.get(n) for n in ("v2", "v2+http", "kserve+http"))
    assert v2.metrics_urls("h:8001", False) == ("http://h:8002/metrics", "http://h:8000/metrics")
    assert v2.metrics_urls("h:8081", False)[0] == "http://h:8082/metrics"  # MLServer
    assert rest.metrics_urls("h:8080", False) == ("http://h:8082/metrics", "http://h:8080/metrics")
    assert v1.metrics_urls("h:8080", True) == (
        "https://h:8080/metrics",
        "https://h:8080/monitoring/prometheus/metrics",
    )
    assert protocols.by_scheme("V2+HTTP") is rest


# --------------------------------------------------------------------------- metrics


def _mlserver_page(observations: dict[str, list[float]]) -> str:
    registry = CollectorRegistry()
    duration = Summary(
        "model_infer_request_duration",
        "Model infer request duration",
        ["model", "version"],
        registry=registry,
    )
    for model, seconds in observations.items():
        for i, s in enumerate(seconds):  # gRPC calls carry version "", REST ones "None"
            duration.labels(model=model, version="" if i % 2 else "None").observe(s)
    return generate_latest(registry).decode()


def _kserve_page(steps: dict[str, list[tuple[float, float, float]]]) -> str:
    registry = CollectorRegistry()
    pre, predict, post = (
        Histogram(f"request_{step}_seconds", step, ["model_name"], registry=registry)
        for step in ("preprocess", "predict", "postprocess")
    )
    for model, calls in steps.items():
        for a, b, c in calls:
            pre.labels(model_name=model).observe(a)
            predict.labels(model_name=model).observe(b)
            post.labels(model_name=model).observe(c)
    return generate_latest(registry).decode()


def test_mlserver_block_time():
    spec = BackendSpec.parse("mls=v2://h:8081/m")
    before = parse_metrics(_mlserver_page({"m": [0.010, 0.012], "other": [1.0]}))
    after = parse_metrics(
        _mlserver_page({"m": [0.010, 0.012, 0.002, 0.004, 0.003], "other": [1.0]})
    )
    fmt = format_of(after)
    assert fmt is not None and fmt.name == "MLServer"
    block = fmt.block_time(before, after, spec, 3)
    assert block.exact and block.counted == 3
    assert block.server_ms == pytest.approx(3.0) and block.runtime_ms is None
    shared = fmt.block_time(before, after, spec, 2)
    assert not shared.exact and "counted 3 requests, 2 were sent" in shared.note
    restarted = fmt.block_time(after, before, spec, 3)
    assert not restarted.exact and "restarted" in restarted.note


def test_kserve_block_time():
    spec = BackendSpec.parse("ks=v2+http://h:8080/m")
    before = parse_metrics(_kserve_page({"m": [(0.001, 0.010, 0.001)]}))
    after = parse_metrics(
        _kserve_page({"m": [(0.001, 0.010, 0.001), (0.001, 0.004, 0.001), (0.002, 0.006, 0.0)]})
    )
    fmt = format_of(after)
    assert fmt is not None and fmt.name == "KServe"
    block = fmt.block_time(before, after, spec, 2)
    assert block.exact and block.counted == 2
    assert block.server_ms == pytest.approx(7.0)  # (6 + 8) / 2: all three steps
    assert block.runtime_ms == pytest.approx(5.0)  # predict alone
    none = fmt.block_time(after, after, BackendSpec.parse("ks=v2+http://h:8080/elsewhere"), 2)
    assert none.server_ms is None and "counted none" in none.note


# --------------------------------------------------------------------------- top-5 of a vector


@pytest.mark.parametrize("seed", range(6))
def test_the_top5_of_one_score_vector_is_the_stable_sorts(seed):
    """One score vector (the commonest OIP answer) is ranked by repeated argmax: the same five,
    in the same order, as a stable sort, ties and negative logits included."""
    from tfcompare.serving import outputs
    from tfcompare.serving.labels import imagenet

    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 3, 1000).astype(np.float32)
    scores[rng.integers(0, 1000, 8)] = scores.max()  # ties at the top
    if seed % 2:
        scores = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    top5, kind = outputs.top5({"out": scores[None]}, imagenet())
    order = np.argsort(-scores.astype(np.float64), kind="stable")[:5]
    assert [p.label for p in top5] == [imagenet().label(int(i), 1000) for i in order]
    assert [p.score for p in top5] == [float(scores[i]) for i in order]
    assert kind == ("probability" if seed % 2 else "logit")
    scores[3] = np.nan  # not finite: the general path, which ranks NaN last
    nan_top5, nan_kind = outputs.top5({"out": scores[None]}, imagenet())
    assert nan_kind == "unknown" and len(nan_top5) == 5
