"""Open Inference Protocol servers that misbehave, over real HTTP and real gRPC on 127.0.0.1
(``tests/oip_scripted.py``): malformed JSON, binary headers that lie about their length, shapes
that do not fit, models that are not ready or not there, servers that do not answer. Each gives
a clear message naming the backend; nothing hangs, and no claimed size is allocated. Also: the
Host header goes out as the gRPC ``:authority`` and as HTTP's ``Host``."""

from __future__ import annotations

import json
import threading
import tracemalloc

import grpc
import numpy as np
import pytest
from oip_scripted import ScriptedGrpc, ScriptedHttp, tensor_metadata

from tfcompare.serving import grpc_predict_v2_pb2 as pb
from tfcompare.serving import make_client
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import RequestInput

TENSOR = RequestInput(
    "image", "float32", (1, 32, 32, 3), np.zeros((1, 32, 32, 3), dtype=np.float32)
)
OK_META = json.dumps(
    {
        "name": "m",
        "versions": ["1"],
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 32, 32, 3]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 1000]}],
    }
).encode()


def _probs() -> np.ndarray:
    p = np.full((1, 1000), 0.0005, dtype="<f4")
    p[0, 281] = 0.5005
    return p


@pytest.fixture
def http():
    servers = []

    def make(routes):
        server = ScriptedHttp(routes)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def rpc():
    servers = []

    def make(handlers):
        server = ScriptedGrpc(handlers)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def rest_client(server, extra: str = "", timeout: float = 5.0):
    spec = BackendSpec.parse(f"b=v2+http://{server.address}/m{extra}", timeout_s=timeout)
    return make_client(spec)


def grpc_client(server, extra: str = "", timeout: float = 5.0):
    spec = BackendSpec.parse(f"b=v2://{server.address}/m{extra}", timeout_s=timeout)
    return make_client(spec)


def _rest_routes(infer, *, extensions=("binary_tensor_data",)):
    return {
        ("GET", "/v2"): (
            200,
            {},
            json.dumps({"name": "triton", "version": "2", "extensions": list(extensions)}).encode(),
        ),
        ("GET", "/v2/models/m"): (200, {}, OK_META),
        ("GET", "/v2/models/m/ready"): (200, {}, b""),
        ("POST", "/v2/models/m/infer"): infer,
    }


# --------------------------------------------------------------------------- REST


def test_a_binary_answer_is_read_and_the_binary_request_is_what_triton_expects(http):
    probs = _probs()
    header = json.dumps(
        {
            "model_name": "m",
            "model_version": "1",
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [1, 1000],
                    "parameters": {"binary_data_size": 4000},
                }
            ],
        }
    ).encode()
    server = http(
        _rest_routes(
            (200, {"Inference-Header-Content-Length": str(len(header))}, header + probs.tobytes())
        )
    )
    with rest_client(server) as client:
        sig = client.metadata()
        out = client.predict(TENSOR, sig)
    assert out.top5[0].label == "tabby" and out.top5[0].score == pytest.approx(0.5005)
    assert out.model_version == 1
    sent = server.calls[-1]
    length = int(sent.headers["inference-header-content-length"])
    head = json.loads(sent.body[:length])
    assert head["inputs"][0]["parameters"]["binary_data_size"] == 32 * 32 * 3 * 4
    assert sent.body[length:] == TENSOR.array.tobytes()
    assert sent.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "answer, says",
    [
        ((200, {}, b'{"outputs": [{"name": "p", "datatype": "FP32", "shape": [1'), "not JSON"),
        (
            (200, {"Inference-Header-Content-Length": "999999"}, b'{"outputs": []}'),
            "says the JSON part is 999999 bytes, but the body has 15",
        ),
        (
            (
                200,
                {"Inference-Header-Content-Length": "10"},
                b'{"outputs": []}' + b"\0" * 64,
            ),
            "not JSON",
        ),
        (
            (
                200,
                {"Inference-Header-Content-Length": "15"},
                b'{"outputs": []}' + b"\0" * 64,
            ),
            "64 bytes of binary data follow the last output",
        ),
        (
            (
                200,
                {"Inference-Header-Content-Length": "99"},
                json.dumps(
                    {
                        "outputs": [
                            {
                                "name": "p",
                                "datatype": "FP32",
                                "shape": [1, 1000],
                                "parameters": {"binary_data_size": 4000},
                            }
                        ]
                    }
                ).encode()[:99],
            ),
            "not JSON|claims",
        ),
        (
            (
                200,
                {},
                b'{"outputs": [{"name": "p", "datatype": "FP32", "shape": [1, 1000000000000],'
                b' "data": [1]}]}',
            ),
            "claims",
        ),
    ],
)
def test_rest_answers_that_lie(http, answer, says):
    server = http(_rest_routes(answer))
    with rest_client(server) as client:
        sig = client.metadata()
        tracemalloc.start()
        try:
            with pytest.raises(ServingError, match=says) as err:
                client.predict(TENSOR, sig)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert err.value.code == "INVALID_ARGUMENT"
    assert f"cannot read the answer of {server.address}" in err.value.message
    assert peak < 16 << 20  # the claimed sizes were never allocated


def test_an_error_answer_is_the_servers_words(http):
    server = http(
        _rest_routes((400, {}, json.dumps({"error": "input 'image' shape mismatch"}).encode()))
    )
    with rest_client(server) as client, pytest.raises(ServingError) as err:
        client.predict(TENSOR, client.metadata())
    assert err.value.code == "INVALID_ARGUMENT"
    assert "input 'image' shape mismatch" in err.value.message


def test_a_huge_error_text_is_cut(http):
    server = http(_rest_routes((500, {}, json.dumps({"error": "x" * 100_000}).encode())))
    with rest_client(server) as client, pytest.raises(ServingError) as err:
        client.predict(TENSOR, client.metadata())
    assert len(err.value.message) < 600 and "100000 characters" in err.value.message


def test_metadata_that_does_not_fit(http):
    meta = json.dumps(
        {"name": "m", "inputs": [{"name": "image", "datatype": "FP32", "shape": [224, 224, 3]}]}
    ).encode()
    server = http({("GET", "/v2/models/m"): (200, {}, meta)})
    with rest_client(server) as client, pytest.raises(ServingError) as err:
        client.metadata()
    assert err.value.code == "INVALID_ARGUMENT"
    assert "image (float32 [224, 224, 3])" in err.value.message
    server.routes[("GET", "/v2/models/m")] = (200, {}, b"[1, 2")
    with rest_client(server) as client, pytest.raises(ServingError, match="not JSON"):
        client.metadata()
    server.routes[("GET", "/v2/models/m")] = (200, {}, b'{"name": "m", "inputs": []}')
    with rest_client(server) as client, pytest.raises(ServingError, match="input=bytes"):
        client.metadata()


def test_a_model_not_ready_or_not_there_over_rest(http):
    server = http({("GET", "/v2/models/m/ready"): (503, {}, b'{"error": "Model m is loading"}')})
    with rest_client(server) as client:
        status = client.status()
    assert not status.available
    assert status.message == f"model 'm' on {server.address} is not ready (Model m is loading)"
    server.routes[("GET", "/v2/models/m/ready")] = (400, {}, b"")  # Triton: 400, no body
    with rest_client(server) as client:
        assert client.status().message == f"model 'm' on {server.address} is not ready"
    server.routes[("GET", "/v2/models/m/ready")] = (200, {}, b'{"name": "m", "ready": false}')
    with rest_client(server) as client:
        assert not client.status().available
    del server.routes[("GET", "/v2/models/m/ready")]  # 404
    with rest_client(server) as client, pytest.raises(ServingError) as err:
        client.status()
    assert err.value.code == "NOT_FOUND" and "model 'm'" in err.value.message


def test_json_when_the_server_does_not_say_binary_and_the_host_header(http):
    probs = _probs()
    answer = json.dumps(
        {
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [1, 1000],
                    "data": probs.ravel().tolist(),
                }
            ]
        }
    ).encode()
    server = http(_rest_routes((200, {}, answer), extensions=()))
    with rest_client(server, ",host=m.default.example.com") as client:
        sig = client.metadata()
        out = client.predict(TENSOR, sig)
    assert out.top5[0].label == "tabby"
    sent = server.calls[-1]
    assert "inference-header-content-length" not in sent.headers
    assert json.loads(sent.body)["inputs"][0]["data"][:3] == [0.0, 0.0, 0.0]
    assert {c.headers["host"] for c in server.calls} == {"m.default.example.com"}


def test_a_silent_rest_server_is_a_deadline(http):
    release = threading.Event()

    def hang(call):
        release.wait(10)
        return 200, {}, b"{}"

    server = http(_rest_routes(hang))
    try:
        with rest_client(server, timeout=0.5) as client:
            sig = client.metadata()
            with pytest.raises(ServingError) as err:
                client.predict(TENSOR, sig)
        assert err.value.code == "DEADLINE_EXCEEDED"
    finally:
        release.set()


# --------------------------------------------------------------------------- gRPC


def _grpc_ok(request, context):
    resp = pb.ModelInferResponse(model_name="m", model_version="7")
    resp.outputs.add(name="probabilities", datatype="FP32", shape=[1, 1000])
    resp.raw_output_contents.append(_probs().tobytes())
    return resp


def _grpc_handlers(infer=_grpc_ok, ready=True, meta=None):
    return {
        "ModelReady": lambda req, ctx: pb.ModelReadyResponse(ready=ready),
        "ServerReady": lambda req, ctx: pb.ServerReadyResponse(ready=ready),
        "ModelMetadata": lambda req, ctx: meta or tensor_metadata(),
        "ModelInfer": infer,
    }


def test_grpc_round_trip_sends_the_host_as_authority(rpc):
    server = rpc(_grpc_handlers())
    with grpc_client(server, ":3,host=m.default.example.com") as client:
        assert client.status().available
        sig = client.metadata()
        out = client.predict(TENSOR, sig)
    assert out.top5[0].label == "tabby" and out.model_version == 7
    assert {c.authority for c in server.calls} == {"m.default.example.com"}
    infer = pb.ModelInferRequest.FromString(server.calls[-1].request)
    assert (infer.model_name, infer.model_version) == ("m", "3")
    assert infer.raw_input_contents[0] == TENSOR.array.tobytes()


def _lying(raw: bytes, shape=(1, 1000), datatype="FP32"):
    def infer(request, context):
        resp = pb.ModelInferResponse(model_name="m")
        resp.outputs.add(name="probabilities", datatype=datatype, shape=list(shape))
        resp.raw_output_contents.append(raw)
        return resp

    return infer


@pytest.mark.parametrize(
    "infer, says",
    [
        (_lying(b"\0" * 40), "needs 4000 bytes, the answer holds 40"),
        (_lying(b"\0" * 4, shape=(1, 10**15)), "claims"),
        (_lying((1 << 30).to_bytes(4, "little"), shape=(1,), datatype="BYTES"), "claims"),
        (lambda req, ctx: b"\xff\xff\xff", "cannot read the answer"),
    ],
)
def test_grpc_answers_that_lie(rpc, infer, says):
    server = rpc(_grpc_handlers(infer))
    with grpc_client(server) as client:
        sig = client.metadata()
        tracemalloc.start()
        try:
            with pytest.raises(ServingError, match=says) as err:
                client.predict(TENSOR, sig)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert err.value.code == "INVALID_ARGUMENT" and server.address in err.value.message
    assert peak < 16 << 20


def test_grpc_model_not_ready_not_found_and_errors(rpc):
    server = rpc(_grpc_handlers(ready=False))
    with grpc_client(server) as client:
        status = client.status()
    assert not status.available
    assert status.message == (
        f"model 'm' on {server.address} is not ready (the server is not ready either)"
    )

    def unknown(request, context):
        context.abort(grpc.StatusCode.UNAVAILABLE, "Request for unknown model: 'm' is not found")

    def invalid(request, context):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unexpected shape for input 'image'")

    server = rpc(_grpc_handlers(unknown, meta=tensor_metadata()))
    with grpc_client(server) as client, pytest.raises(ServingError) as err:
        client.predict(TENSOR, client.metadata())
    assert err.value.code == "NOT_FOUND" and "model 'm'" in err.value.message
    server = rpc(_grpc_handlers(invalid))
    with grpc_client(server) as client, pytest.raises(ServingError) as err:
        client.predict(TENSOR, client.metadata())
    assert err.value.code == "INVALID_ARGUMENT"
    assert "unexpected shape for input 'image'" in err.value.message


def test_grpc_metadata_that_does_not_fit(rpc):
    meta = tensor_metadata(inputs=(("a", "FP32", (-1, 8, 8, 3)), ("b", "FP32", (-1, 8, 8, 3))))
    server = rpc(_grpc_handlers(meta=meta))
    with grpc_client(server) as client, pytest.raises(ServingError, match="2 image-like inputs"):
        client.metadata()
    server = rpc(_grpc_handlers(meta=tensor_metadata(inputs=())))
    with grpc_client(server) as client, pytest.raises(ServingError, match="input=bytes"):
        client.metadata()
    with grpc_client(server, ",input=float32:32x32x3") as client:
        assert client.metadata().input_key == "input"


def test_grpc_server_gone_and_silent(rpc):
    server = rpc(_grpc_handlers())
    address = server.address
    server.close()
    spec = BackendSpec.parse(f"b=v2://{address}/m", timeout_s=2)
    with make_client(spec) as client, pytest.raises(ServingError) as err:
        client.status()
    assert err.value.code == "UNAVAILABLE" and "not reachable" in err.value.message
    release = threading.Event()

    def hang(request, context):
        release.wait(10)
        return _grpc_ok(request, context)

    server = rpc(_grpc_handlers(hang))
    try:
        with grpc_client(server, timeout=0.5) as client:
            sig = client.metadata()
            with pytest.raises(ServingError) as err:
                client.predict(TENSOR, sig)
        assert err.value.code == "DEADLINE_EXCEEDED"
    finally:
        release.set()


# --------------------------------------------------------------------------- load


def test_load_sends_each_backends_own_requests_with_their_headers(http, rpc, tmp_path):
    """``tfcompare load``'s targets for an OIP REST backend that reads binary tensors carry the
    binary extension's headers (through an agent's plan directory too), and the HTTP and gRPC
    senders deliver exactly those requests, with the Host header / :authority."""
    import asyncio

    from images import jpeg_bytes, photo

    from tfcompare.load.agent import read_plan_dir, write_plan_dir
    from tfcompare.load.load_plan import LoadPlan
    from tfcompare.load.prepare import build_targets

    probs = _probs()
    header = json.dumps(
        {
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [1, 1000],
                    "parameters": {"binary_data_size": 4000},
                }
            ]
        }
    ).encode()
    rest = http(
        _rest_routes(
            (200, {"Inference-Header-Content-Length": str(len(header))}, header + probs.tobytes())
        )
    )
    grpc_server = rpc(_grpc_handlers())
    specs = [
        BackendSpec.parse(f"r=v2+http://{rest.address}/m,preprocess=tf,host=r.example.com"),
        BackendSpec.parse(f"g=v2://{grpc_server.address}/m,preprocess=tf,host=g.example.com"),
    ]
    image = jpeg_bytes(photo("chelsea"))
    targets, messages = build_targets(
        specs, {"original": [image]}, {"original": {"label": "original"}}
    )
    assert len(targets) == 2 and not [m for m in messages if "not measured" in m], messages
    rest_target, grpc_target = targets
    (request,) = rest_target.payloads
    headers = dict(request.headers)
    assert headers["Content-Type"] == "application/octet-stream"
    assert int(headers["Inference-Header-Content-Length"]) < len(request.body)
    assert grpc_target.payloads[0].path == "/inference.GRPCInferenceService/ModelInfer"

    write_plan_dir(tmp_path / "plan", LoadPlan(levels=(1,)), targets)
    _, _, read_back = read_plan_dir(tmp_path / "plan")
    assert [t.payloads for t in read_back] == [t.payloads for t in targets]

    async def send_all() -> list[str]:
        codes = []
        for target in read_back:
            sender = target.backend.protocol_info.sender(target.backend, target.address, 5.0, 1)
            await sender.open()
            try:
                codes.append(await sender.send(target.payloads[0]))
            finally:
                await sender.close()
        return codes

    before = len(rest.calls)
    assert asyncio.run(send_all()) == ["OK", "OK"]
    sent = rest.calls[before]
    assert (
        sent.headers["inference-header-content-length"]
        == headers["Inference-Header-Content-Length"]
    )
    assert sent.headers["content-type"] == "application/octet-stream"
    assert sent.headers["host"] == "r.example.com" and sent.body == request.body
    infer_calls = [c for c in grpc_server.calls if c.method == "ModelInfer"]
    assert infer_calls[-1].authority == "g.example.com"
    assert infer_calls[-1].request == grpc_target.payloads[0].body
