"""tfcompare's gRPC and REST clients against real local TF-Serving-compatible backends."""

from __future__ import annotations

import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from PIL import Image

from tfcompare.serving import make_client
from tfcompare.serving._protos import predict_pb2, types_pb2
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.grpc_client import PREDICT_METHOD, GrpcClient
from tfcompare.serving.rest_client import RestClient

pytestmark = pytest.mark.slow


def _jpeg(seed: int = 0, size: tuple[int, int] = (320, 240)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1] // 8, size[0] // 8, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(arr).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def image() -> bytes:
    return _jpeg()


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """``tiny-ids`` (typed fields, REST on) and ``tiny-logits`` (tensor_content, REST on): the same
    seeded network as ``tiny`` with other output conventions, so all must agree on the classes."""
    from backends import export_model

    base = tmp_path_factory.mktemp("variant-models")
    ids = export_model("tiny-ids", base / "tiny-ids")
    logits = export_model("tiny-logits", base / "tiny-logits")
    logs = tmp_path_factory.mktemp("variant-logs")
    started = _start_two(ids, logits, logs)
    yield {"ids": started[0], "logits": started[1]}
    for backend in started:
        backend.stop()


def _start_two(ids, logits, logs):
    from backends import launch_backend

    launched = [
        launch_backend(ids, model_name="tiny-ids", rest=True, log_dir=logs),
        launch_backend(
            logits,
            model_name="tiny-logits",
            rest=True,
            log_dir=logs,
            extra_args=("--tensor-content",),
        ),
    ]
    try:
        return [b.wait_ready() for b in launched]
    except BaseException:
        for b in launched:
            b.kill()
        raise


def _client(address: str, protocol: str = "grpc", **kw) -> GrpcClient | RestClient:
    kw.setdefault("model", "tiny")
    return make_client(BackendSpec(name="b", target=address, protocol=protocol, **kw))


def _labels(outcome) -> list[str]:
    return [p.label for p in outcome.top5]


# --------------------------------------------------------------------------- gRPC and REST basics


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_status_metadata_predict(backend_pair, image, protocol):
    backend = backend_pair.two
    address = backend.grpc if protocol == "grpc" else backend.rest
    with _client(address, protocol) as client:
        assert isinstance(client, GrpcClient if protocol == "grpc" else RestClient)
        status = client.status()
        assert status.available and status.serving_version == 1
        assert (1, "AVAILABLE") in status.versions
        sig = client.metadata()
        assert sig.signature_name == "serving_default"
        assert sig.input_key == "images" and sig.input_dtype == "string"
        assert set(sig.output_keys) == {"classes", "scores"}
        assert sig.model_version == 1
        out = client.predict_image(image, sig)
    assert len(out.top5) == 5
    scores = [p.score for p in out.top5]
    assert scores == sorted(scores, reverse=True)
    assert out.score_kind == "probability"
    assert 0 < sum(scores) <= 1.0 + 1e-5
    assert out.model_version == 1
    assert out.latency_ms > 0 and out.client_ms > 0
    assert out.bytes_sent > len(image)  # the image plus the request envelope (b64 for REST)
    if protocol == "rest":
        assert out.bytes_sent >= len(image) * 4 // 3


def test_grpc_and_rest_agree_and_answers_depend_on_the_image(backend_pair, image):
    grpc_out = _client(backend_pair.two.grpc).predict_image(
        image, _client(backend_pair.two.grpc).metadata()
    )
    rest = _client(backend_pair.two.rest, "rest")
    rest_out = rest.predict_image(image, rest.metadata())
    assert _labels(grpc_out) == _labels(rest_out)
    np.testing.assert_allclose(
        [p.score for p in grpc_out.top5], [p.score for p in rest_out.top5], rtol=1e-5
    )
    other = rest.predict_image(_jpeg(seed=7), rest.metadata())
    assert [p.score for p in other.top5] != [p.score for p in rest_out.top5]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_explicit_and_unknown_signature(backend_pair, image, protocol):
    address = backend_pair.two.grpc if protocol == "grpc" else backend_pair.two.rest
    sig = _client(address, protocol, signature="predict_images").metadata()
    assert sig.signature_name == "predict_images"
    assert len(_client(address, protocol).predict_image(image, sig).top5) == 5
    with pytest.raises(ServingError) as err:
        _client(address, protocol, signature="nope").metadata()
    assert err.value.code == "NOT_FOUND"
    assert "nope" in err.value.message and "predict_images" in err.value.message


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_unknown_model_is_not_found(backend_pair, image, protocol):
    address = backend_pair.two.grpc if protocol == "grpc" else backend_pair.two.rest
    good_sig = _client(address, protocol).metadata()
    client = _client(address, protocol, model="no-such-model")
    for call in (client.status, client.metadata, lambda: client.predict_image(image, good_sig)):
        with pytest.raises(ServingError) as err:
            call()
        assert err.value.code == "NOT_FOUND", err.value
        assert "no-such-model" in err.value.message


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_undecodable_bytes_is_invalid_argument(backend_pair, protocol):
    address = backend_pair.two.grpc if protocol == "grpc" else backend_pair.two.rest
    client = _client(address, protocol)
    with pytest.raises(ServingError) as err:
        client.predict_image(b"this is not an image", client.metadata())
    assert err.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_unreachable_port_is_unavailable_quickly(protocol):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = _client(f"127.0.0.1:{port}", protocol)
    with pytest.raises(ServingError) as err:
        client.status()
    # quickly: refused at once, not retried until the request's deadline (DEADLINE_EXCEEDED)
    assert err.value.code == "UNAVAILABLE"
    assert err.value.message == f"backend 127.0.0.1:{port} is not reachable (connection refused)"


def test_k8s_target_needs_an_address_and_bad_ca_is_clear(backend_pair, tmp_path):
    with pytest.raises(ServingError, match="port-forward"):
        make_client(BackendSpec("k", "k8s://ns/svc:8500"))
    spec = BackendSpec("k", "k8s://ns/svc:8500", model="tiny")
    assert make_client(spec, address=backend_pair.one.grpc).status().available
    for protocol in ("grpc", "rest"):
        with pytest.raises(ServingError) as err:
            _client(backend_pair.one.grpc, protocol, tls_ca=str(tmp_path / "missing.pem"))
        assert err.value.code == "INVALID_ARGUMENT" and "missing.pem" in err.value.message


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_headers_are_sent_and_client_is_thread_safe(backend_pair, image, protocol):
    address = backend_pair.two.grpc if protocol == "grpc" else backend_pair.two.rest
    client = _client(address, protocol, headers=(("Authorization", "Bearer t0ken"),))
    sig = client.metadata()
    expected = _labels(client.predict_image(image, sig))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(_: int) -> list[str]:
        try:
            return _labels(client.predict_image(image, sig))
        except BaseException as exc:  # collected, asserted below
            with lock:
                errors.append(exc)
            raise

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(40)))
    client.close()
    assert not errors
    assert all(r == expected for r in results)


# --------------------------------------------------------------------------- output conventions


def test_ids_logits_and_tensor_content_agree_with_names(backend_pair, variants, image):
    """Same network, three output conventions, gRPC typed fields, tensor_content and REST JSON."""
    ref_client = _client(backend_pair.one.grpc)
    ref = ref_client.predict_image(image, ref_client.metadata())
    results = {}
    for key, backend in variants.items():
        model = f"tiny-{key}"
        for protocol, address in (("grpc", backend.grpc), ("rest", backend.rest)):
            client = _client(address, protocol, model=model)
            sig = client.metadata()
            results[(key, protocol)] = (sig, client.predict_image(image, sig))
    for (key, protocol), (_sig, out) in results.items():
        assert _labels(out) == _labels(ref), (key, protocol)
        assert out.model_version == 1
    ids_sig, ids_out = results[("ids", "grpc")]
    assert ids_sig.input_key == "image_bytes"
    assert ids_out.score_kind == "probability"
    np.testing.assert_allclose(
        [p.score for p in ids_out.top5], [p.score for p in ref.top5], rtol=1e-3
    )
    logit_sig, logit_out = results[("logits", "grpc")]
    # the logits backend really packs its answer in tensor_content (and the ids one does not)
    for key, packed in (("logits", True), ("ids", False)):
        client = _client(variants[key].grpc, model=f"tiny-{key}")
        sig = results[(key, "grpc")][0]
        raw = grpc.insecure_channel(variants[key].grpc).unary_unary(PREDICT_METHOD)(
            client.prepare(sig.input.make(image), sig).body, timeout=30
        )
        response = predict_pb2.PredictResponse.FromString(raw)
        floats = [t for t in response.outputs.values() if t.dtype == types_pb2.DT_FLOAT]
        assert floats and all(bool(t.tensor_content) == packed for t in floats)
    assert logit_sig.output_keys == ("logits",)
    assert logit_out.score_kind == "logit"
    np.testing.assert_allclose(
        [p.score for p in logit_out.top5],
        [p.score for p in results[("logits", "rest")][1].top5],
        rtol=1e-5,
    )


def test_paused_backend_hits_the_deadline(variants, image):
    backend = variants["logits"]
    clients = [
        _client(backend.grpc, model="tiny-logits"),
        _client(backend.rest, "rest", model="tiny-logits"),
    ]
    sigs = [c.metadata() for c in clients]
    backend.pause()
    try:
        for client, sig in zip(clients, sigs, strict=True):
            with pytest.raises(ServingError) as err:  # returns: the call's own deadline ends it
                client.predict_image(image, sig, timeout_s=1.0)
            assert err.value.code == "DEADLINE_EXCEEDED", err.value
            assert "did not answer within 1 s" in err.value.message
    finally:
        backend.resume()
    assert len(clients[0].predict_image(image, sigs[0]).top5) == 5  # the channel recovers


def test_nine_megabyte_png_goes_through(backend_pair):
    rng = np.random.default_rng(3)
    arr = (rng.random((1750, 1750, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)
    png = buf.getvalue()
    assert len(png) > 8_500_000
    for protocol, address in (("grpc", backend_pair.two.grpc), ("rest", backend_pair.two.rest)):
        client = _client(address, protocol, timeout_s=120)
        out = client.predict_image(png, client.metadata())
        assert len(out.top5) == 5 and out.bytes_sent > len(png)


def test_rest_recovers_from_dropped_keepalive_connections(backend_pair, image):
    client = _client(backend_pair.two.rest, "rest")
    sig = client.metadata()
    expected = _labels(client.predict_image(image, sig))
    assert client._pool._idle, "the connection should be kept alive for reuse"
    for conn in client._pool._idle:  # what a server or proxy closing idle connections leaves
        conn.sock.shutdown(socket.SHUT_RDWR)
    assert _labels(client.predict_image(image, sig)) == expected
