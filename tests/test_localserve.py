"""`tfcompare serve` used exactly like tensorflow_model_server by a client built only on the official
stubs (tests/stub_client.py): Predict, metadata, status, TF Serving's error codes, big messages."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import stub_client as sc
from PIL import Image

pytestmark = pytest.mark.slow

SAMPLES = ["astronaut", "chelsea", "coffee", "rocket"]


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "resources" / "samples"
    photos = {
        name: (root / f"{name}.jpg").read_bytes()
        for name in SAMPLES
        if (root / f"{name}.jpg").exists()
    }
    if len(photos) < 2:  # fall back to generated pictures
        photos = {f"pattern{i}": sc.encode(sc.pattern(seed=i)) for i in range(4)}
    return photos


def top5(response) -> tuple[list[str], np.ndarray]:
    classes = [c.decode() for c in response.outputs["classes"].string_val]
    return classes, sc.array(response.outputs["scores"])


def test_predict_like_tensorflow_model_server(backend_pair, photos):
    one = backend_pair.one.grpc
    data = next(iter(photos.values()))
    response = sc.predict(one, sc.predict_request(data, signature="predict_images"))
    assert response.model_spec.name == "tiny"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "predict_images"
    classes, scores = top5(response)
    assert len(classes) == 5 and len(set(classes)) == 5
    assert all(c and not c.startswith("class_") for c in classes)  # real ImageNet names
    assert scores.shape == (1, 5) and response.outputs["classes"].tensor_shape.dim[1].size == 5
    assert np.all(np.diff(scores[0]) <= 0) and 0 < scores.sum() <= 1.0 + 1e-5  # softmax top-5
    # typed fields by default, like TF Serving without --enable_serialization_as_tensor_content
    assert not response.outputs["scores"].tensor_content and response.outputs["scores"].float_val

    # empty signature name = serving_default, same function, same answer; deterministic
    default = sc.predict(one, sc.predict_request(data))
    assert default.model_spec.signature_name == "serving_default"
    assert top5(default)[0] == classes
    np.testing.assert_allclose(top5(default)[1], scores, rtol=1e-5)
    # explicit version 1 works too; the other backend (threads=2) serves the same model
    assert top5(sc.predict(one, sc.predict_request(data, version=1)))[0] == classes
    assert top5(sc.predict(backend_pair.two.grpc, sc.predict_request(data)))[0] == classes


def test_answers_depend_on_the_image(backend_pair, photos):
    one = backend_pair.one.grpc
    top1 = {}
    for name, data in photos.items():
        top1[name] = top5(sc.predict(one, sc.predict_request(data)))[0][0]
        rotated = sc.encode(Image.open(__import__("io").BytesIO(data)).rotate(90, expand=True))
        assert top5(sc.predict(one, sc.predict_request(rotated)))[0][0] != top1[name], name
    assert len(set(top1.values())) >= 2, top1


def test_formats_and_batches(backend_pair):
    one = backend_pair.one.grpc
    picture = sc.pattern(seed=3)
    answers = {}
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        image = picture.convert("P") if fmt == "GIF" else picture
        answers[fmt] = top5(sc.predict(one, sc.predict_request(sc.encode(image, fmt))))[0]
    assert answers["PNG"][0] == answers["BMP"][0]  # lossless formats decode to the same pixels
    batch = [sc.encode(sc.pattern(seed=s)) for s in range(3)]
    response = sc.predict(one, sc.predict_request(batch))
    assert [d.size for d in response.outputs["classes"].tensor_shape.dim] == [3, 5]
    singles = [top5(sc.predict(one, sc.predict_request(b)))[0] for b in batch]
    classes = [c.decode() for c in response.outputs["classes"].string_val]
    assert [classes[i * 5 : (i + 1) * 5] for i in range(3)] == singles


def test_output_filter(backend_pair):
    request = sc.predict_request(sc.encode(sc.pattern()))
    request.output_filter.append("scores")
    response = sc.predict(backend_pair.one.grpc, request)
    assert list(response.outputs) == ["scores"]
    request.output_filter.append("nope")
    err = sc.rpc_error(sc.predict, backend_pair.one.grpc, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in err.details()


def test_predict_errors_use_tf_serving_codes(backend_pair):
    one = backend_pair.one.grpc
    good = sc.encode(sc.pattern())
    cases = {
        "unknown model": (
            sc.predict_request(good, model="nope"),
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        "unknown version": (sc.predict_request(good, version=7), grpc.StatusCode.NOT_FOUND, "7"),
        "unknown label": (
            sc.predict_request(good, label="canary"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "canary",
        ),
        "bad input key": (
            sc.predict_request(good, key="image_bytes"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "image_bytes",
        ),
        "unknown signature": (
            sc.predict_request(good, signature="classify"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "classify",
        ),
        "undecodable bytes": (
            sc.predict_request(b"this is not an image"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "image",
        ),
        "truncated jpeg": (sc.predict_request(good[:40]), grpc.StatusCode.INVALID_ARGUMENT, ""),
    }
    wrong_dtype = sc.predict_request(good)
    wrong_dtype.inputs["images"].dtype = 1  # DT_FLOAT
    cases["wrong dtype"] = (wrong_dtype, grpc.StatusCode.INVALID_ARGUMENT, "string")
    for what, (request, code, text) in cases.items():
        err = sc.rpc_error(sc.predict, one, request)
        assert err.code() == code, (what, err.code(), err.details())
        assert text in err.details(), (what, err.details())
        assert "Traceback" not in err.details()
    # the server is still fine afterwards
    assert top5(sc.predict(one, sc.predict_request(good)))[0]


def test_metadata(backend_pair):
    response, sig_map = sc.metadata(backend_pair.one.grpc)
    assert response.model_spec.name == "tiny" and response.model_spec.version.value == 1
    for name in ("serving_default", "predict_images"):
        sig = sig_map.signature_def[name]
        assert list(sig.inputs) == ["images"]
        assert sig.inputs["images"].dtype == 7  # DT_STRING
        assert [d.size for d in sig.inputs["images"].tensor_shape.dim] == [-1]
        assert set(sig.outputs) == {"classes", "scores"}
        assert sig.outputs["classes"].dtype == 7 and sig.outputs["scores"].dtype == 1
        assert sig.method_name == "tensorflow/serving/predict"
    for fields, text in ((("signature_def", "other"), "other"), ((), "metadata_field")):
        err = sc.rpc_error(sc.metadata, backend_pair.one.grpc, "tiny", fields)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and text in err.details()
    err = sc.rpc_error(sc.metadata, backend_pair.one.grpc, "nope")
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = sc.rpc_error(sc.metadata, backend_pair.one.grpc, "tiny", ("signature_def",), 3)
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_model_status(backend_pair):
    for backend in backend_pair.values():
        response = sc.status(backend.grpc)
        assert len(response.model_version_status) == 1
        entry = response.model_version_status[0]
        assert entry.version == 1 and entry.state == 30  # AVAILABLE
        assert entry.status.error_code == 0 and entry.status.error_message == ""
    assert sc.status(backend_pair.one.grpc, version=1).model_version_status[0].version == 1
    err = sc.rpc_error(sc.status, backend_pair.one.grpc, "nope")
    assert err.code() == grpc.StatusCode.NOT_FOUND and "nope" in err.details()
    err = sc.rpc_error(sc.status, backend_pair.one.grpc, "tiny", 2)
    assert err.code() == grpc.StatusCode.NOT_FOUND and "2" in err.details()


def test_unimplemented_methods(backend_pair):
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

    with sc.channel(backend_pair.one.grpc) as ch:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        err = sc.rpc_error(stub.Classify, classification_pb2.ClassificationRequest())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED


def test_nine_megabyte_request(backend_pair):
    rng = np.random.default_rng(9)
    noise = rng.integers(0, 256, (1800, 1800, 3), dtype=np.uint8)  # incompressible: ~9.7 MB PNG
    data = sc.encode(Image.fromarray(noise), "PNG", compress_level=1)
    assert len(data) > 9_000_000
    response = sc.predict(backend_pair.one.grpc, sc.predict_request(data), timeout=120)
    assert len(response.outputs["classes"].string_val) == 5


def _compute_threads(pid: int) -> int:
    from pathlib import Path

    names = [p.read_text().strip() for p in Path(f"/proc/{pid}/task").glob("*/comm")]
    return sum(1 for n in names if n.startswith("tf_Compute"))


def test_threads_option_sizes_tensorflow_pools(backend_pair):
    """--threads N gives TensorFlow exactly N compute threads (intra/inter-op pools)."""
    for backend, expected in ((backend_pair.one, 1), (backend_pair.two, 2)):
        sc.predict(backend.grpc, sc.predict_request(sc.encode(sc.pattern())))
        assert _compute_threads(backend.pid) == expected, backend


def test_concurrent_requests(backend_pair):
    """Many clients at once (the server's worker pool + TF's thread safety): every answer right."""
    from concurrent.futures import ThreadPoolExecutor

    images = [sc.encode(sc.pattern(seed=s)) for s in range(4)]
    expected = [top5(sc.predict(backend_pair.two.grpc, sc.predict_request(d)))[0] for d in images]
    with sc.channel(backend_pair.two.grpc) as ch:
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda i: top5(stub.Predict(sc.predict_request(images[i % 4]), 60))[0],
                    range(24),
                )
            )
    assert answers == [expected[i % 4] for i in range(24)]


def test_shape_must_match_the_values_given(backend_pair):
    """One image with a shape claiming 20000 (or a negative dimension) is refused at once with
    INVALID_ARGUMENT instead of being decoded 20000 times."""
    data = sc.encode(sc.pattern())
    for shape, values in (([20000], [data]), ([-5], [data]), ([2, 2], [data] * 3), ([1], [])):
        request = sc.predict_request(values or [data])
        tensor = request.inputs["images"]
        del tensor.string_val[:]
        tensor.string_val.extend(values)
        del tensor.tensor_shape.dim[:]
        for size in shape:
            tensor.tensor_shape.dim.add(size=size)
        err = sc.rpc_error(sc.predict, backend_pair.one.grpc, request, 10)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (shape, err.details())
        assert "tensor parsing error: images" in err.details() and str(shape) in err.details()
    ok = sc.predict(backend_pair.one.grpc, sc.predict_request([data, data]))
    assert ok.outputs["classes"].tensor_shape.dim[0].size == 2
