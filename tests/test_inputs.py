"""Input kinds, client-side preprocessing, class names and the wire formats of tensor requests —
plain functions, no server (the end-to-end tests send the same values to real servers)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tfcompare.imaging.preprocess import (
    Preprocessing,
    TensorLayout,
    default_preset,
    presets_for,
    to_tensor,
)
from tfcompare.serving import outputs, tensor_proto
from tfcompare.serving._protos import predict_pb2, types_pb2
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import (
    EncodedImageInput,
    ImageTensorInput,
    TensorInfo,
    choose_input,
)
from tfcompare.serving.labels import LabelsError, imagenet, load_labels
from tfcompare.serving.rest_client import predict_body


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


# A 4×2 RGB image with known values (PNG: lossless).
PIXELS = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(2, 4, 3) * 10


# --------------------------------------------------------------------------- input kinds


@pytest.mark.parametrize(
    ("shape", "dtype", "text"),
    [
        ((-1, 224, 224, 3), "float32", "takes float32 224×224×3 NHWC"),
        ((-1, 3, 224, 224), "float32", "takes float32 3×224×224 NCHW"),
        ((-1, -1, -1, 3), "uint8", "takes uint8 any size (H×W)×3 NHWC"),
        ((-1, 28, 28, 1), "float16", "takes float16 28×28×1 NHWC"),
        ((-1, 1, 28, 28), "float32", "takes float32 1×28×28 NCHW"),
    ],
)
def test_image_tensor_inputs_are_recognised(shape, dtype, text):
    kind = choose_input([TensorInfo("input_image", dtype, shape)], model="m")
    assert isinstance(kind, ImageTensorInput) and kind.describe() == text


def test_encoded_bytes_input():
    kind = choose_input([TensorInfo("images", "string", (-1,))], model="m")
    assert isinstance(kind, EncodedImageInput) and kind.describe() == "takes encoded bytes"
    value = kind.make(b"\xff\xd8jpeg")
    assert (value.dtype, value.shape, value.data, value.preprocess_ms) == (
        "string",
        (1,),
        b"\xff\xd8jpeg",
        0.0,
    )


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        (
            [
                TensorInfo("a", "float32", (-1, 64, 64, 3)),
                TensorInfo("b", "float32", (-1, 64, 64, 3)),
            ],
            ["2 image-like inputs", "a, b"],
        ),
        (
            [TensorInfo("img", "float32", (-1, 64, 64, 3)), TensorInfo("k", "int32", (-1,))],
            ["cannot fill", "k (int32 [?])"],
        ),
        ([TensorInfo("img", "int64", (-1, 64, 64, 3))], ["of type int64", "float32"]),
        ([TensorInfo("x", "float32", (-1, 10))], ["4-D image tensor", "x (float32 [?, 10])"]),
        ([TensorInfo("x", "float32", (-1, 64, 64, 5))], ["4-D image tensor"]),
        ([], ["has no inputs"]),
    ],
)
def test_inputs_that_cannot_be_filled_are_named(inputs, words):
    with pytest.raises(ServingError) as err:
        choose_input(inputs, model="m")
    assert err.value.code == "INVALID_ARGUMENT"
    for word in words:
        assert word in err.value.message


# --------------------------------------------------------------------------- preprocessing


def _layout(dtype="float32", layout="NHWC", channels=3, size=(2, 4)):
    return TensorLayout(dtype, layout, channels, *size)


@pytest.mark.parametrize(
    ("preset", "expect"),
    [
        ("raw", lambda x: x),
        ("unit", lambda x: x / 255),
        ("tf", lambda x: x / 127.5 - 1),
        ("caffe", lambda x: x[..., ::-1] - np.array([103.939, 116.779, 123.68])),
        (
            "torch",
            lambda x: (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
        ),
    ],
)
def test_presets_scale_as_their_convention_says(preset, expect):
    tensor, ms = to_tensor(_png(PIXELS), _layout(), Preprocessing(preset))
    assert tensor.shape == (1, 2, 4, 3) and tensor.dtype == np.float32 and ms >= 0
    np.testing.assert_allclose(tensor[0], expect(PIXELS.astype(np.float64)), rtol=1e-5, atol=1e-4)


def test_layout_dtype_and_grey():
    nchw, _ = to_tensor(_png(PIXELS), _layout(layout="NCHW"), Preprocessing("raw"))
    assert nchw.shape == (1, 3, 2, 4) and nchw.flags.c_contiguous
    np.testing.assert_array_equal(nchw[0], PIXELS.transpose(2, 0, 1))
    half, _ = to_tensor(_png(PIXELS), _layout("float16"), Preprocessing("unit"))
    assert half.dtype == np.float16
    ints, _ = to_tensor(_png(PIXELS), _layout("uint8"), Preprocessing("raw"))
    assert ints.dtype == np.uint8 and (ints[0] == PIXELS).all()
    grey, _ = to_tensor(_png(PIXELS), _layout(channels=1), Preprocessing("raw"))
    expected = np.asarray(Image.fromarray(PIXELS).convert("L"), dtype=np.float32)
    assert grey.shape == (1, 2, 4, 1) and (grey[0, ..., 0] == expected).all()
    with pytest.raises(ValueError, match="raw"):
        to_tensor(_png(PIXELS), _layout("uint8"), Preprocessing("tf"))
    assert presets_for(_layout("uint8")) == ("raw",) and default_preset(_layout("uint8")) == "raw"
    assert default_preset(_layout()) == "auto"


def test_resize_crop_and_dynamic_size():
    rng = np.random.default_rng(0)
    photo = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    fixed, _ = to_tensor(_png(photo), _layout(size=(32, 32)), Preprocessing("raw"))
    assert fixed.shape == (1, 32, 32, 3)
    # the centre crop of a square model keeps 0.5 of the shorter side: rows 75..225, cols 125..275
    cropped, _ = to_tensor(_png(photo), _layout(size=(150, 150)), Preprocessing("raw", crop=0.5))
    np.testing.assert_array_equal(cropped[0], photo[75:225, 125:275])
    dynamic, _ = to_tensor(_png(photo), _layout(size=(None, None)), Preprocessing("raw"))
    assert dynamic.shape == (1, 300, 400, 3)  # a dynamic-size model gets the variant's own size


# --------------------------------------------------------------------------- wire formats


def _value(dtype="float32", layout="NHWC"):
    kind = ImageTensorInput("input_image", _layout(dtype, layout))
    return kind.make(_png(PIXELS), Preprocessing("raw"))


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
def test_grpc_tensor_is_packed_little_endian_in_tensor_content(dtype):
    value = _value(dtype)
    req = predict_pb2.PredictRequest()
    tensor_proto.request_tensor(value, req.inputs["input_image"])
    proto = req.inputs["input_image"]
    assert proto.tensor_content and not proto.float_val and not proto.half_val
    assert not proto.int_val
    assert [d.size for d in proto.tensor_shape.dim] == [1, 2, 4, 3]
    assert (
        proto.dtype
        == {
            "float32": types_pb2.DT_FLOAT,
            "float16": types_pb2.DT_HALF,
            "uint8": types_pb2.DT_UINT8,
        }[dtype]
    )
    back = tensor_proto.to_numpy(proto)
    np.testing.assert_array_equal(back, value.array)


@pytest.mark.parametrize("columnar", [False, True])
def test_rest_body_row_and_columnar(columnar):
    value = _value()
    doc = json.loads(predict_body(value, "serving_default", columnar=columnar))
    assert doc["signature_name"] == "serving_default"
    if columnar:
        assert np.array_equal(np.array(doc["inputs"]["input_image"]), value.array)
    else:
        [row] = doc["instances"]
        assert np.array_equal(np.array(row["input_image"]), value.array[0])
    encoded = EncodedImageInput("images").make(b"abc")
    assert json.loads(predict_body(encoded, "s")) == {
        "signature_name": "s",
        "instances": [{"b64": "YWJj"}],
    }


# --------------------------------------------------------------------------- labels


def test_labels_files(tmp_path):
    lines = tmp_path / "l.txt"
    lines.write_text("cat\ndog\n\n")
    assert load_labels(lines).names == ("cat", "dog")
    listed = tmp_path / "l.json"
    listed.write_text('["a", "b", "c"]')
    assert load_labels(listed).label(2) == "c"
    mapped = tmp_path / "m.json"
    mapped.write_text('{"0": "zero", "2": "two"}')
    names = load_labels(mapped)
    assert (names.label(0), names.label(1), names.label(2)) == ("zero", "class 1", "two")
    assert names.label(0, num_classes=4) == "background"  # one more class than names: offset
    assert names.fit(10) and "3 names" in names.fit(10) and names.fit(3) is None
    assert imagenet().fit(10) and imagenet().fit(1001) is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
        (b"\xff\xfe\xfa not utf8", "UTF-8"),
        (b"", "no names"),
        (b'{"x": "a"}', "not a class id"),
        (b"[1, 2]", "not text"),
        (b"[[[[", "not valid JSON"),
    ],
)
def test_unusable_labels_files_are_refused(tmp_path, content, words):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(LabelsError, match=words):
        load_labels(path)


def test_huge_labels_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: a gigabyte of zeros
    with pytest.raises(LabelsError, match="larger than"):
        load_labels(path)


def test_own_labels_name_the_classes():
    names = load_labels_from(["zero", "one", "two", "three"])
    scores = np.array([[0.1, 0.6, 0.2, 0.1]], dtype=np.float32)
    top5, kind = outputs.top5({"probs": scores}, names)
    assert [p.label for p in top5[:2]] == ["one", "two"] and kind == "probability"


def load_labels_from(names):
    from tfcompare.serving.labels import ClassNames

    return ClassNames(tuple(names), "test")


def test_a_non_vector_answer_is_a_clear_error():
    with pytest.raises(ValueError, match=r"feature \[1, 4, 4, 10\]: not one score per class"):
        outputs.top5({"feature": np.zeros((1, 4, 4, 10), dtype=np.float32)})


# --------------------------------------------------------------------------- backend specs


@pytest.mark.parametrize(
    ("text", "protocol", "target", "model", "version", "signature"),
    [
        ("a=127.0.0.1:8500/m", "grpc", "127.0.0.1:8500", "m", None, None),
        ("a=127.0.0.1:8500/m:sig", "grpc", "127.0.0.1:8500", "m", None, "sig"),
        ("a=127.0.0.1:8501/m,protocol=rest", "rest", "127.0.0.1:8501", "m", None, None),
    ],
)
def test_backend_specs(text, protocol, target, model, version, signature):
    spec = BackendSpec.parse(text)
    assert (spec.protocol, spec.target, spec.model, spec.version, spec.signature) == (
        protocol,
        target,
        model,
        version,
        signature,
    )
    assert BackendSpec.parse(spec.spec_text()) == spec


def test_backend_spec_options(tmp_path):
    spec = BackendSpec.parse(
        "k=127.0.0.1:8500/keras,preprocess=torch,crop=0.875,labels=names.txt,host=m.example.com,"
        "metrics-header=authorization:Bearer t"
    )
    assert (spec.preprocess, spec.crop, spec.labels, spec.host_header) == (
        "torch",
        0.875,
        "names.txt",
        "m.example.com",
    )
    assert spec.metrics_headers == (("authorization", "Bearer t"),)
    assert "metrics_headers" not in spec.to_dict() and "Bearer" not in json.dumps(spec.to_dict())
    assert BackendSpec.from_dict(spec.to_dict()) == spec
    for bad, words in (
        ("k=127.0.0.1:8500/m,preprocess=nope", "preprocess must be one of"),
        ("k=127.0.0.1:8500/m,crop=2", "crop must be"),
        ("k=127.0.0.1:8500/m,colour=red", "unknown option"),
        ("k=127.0.0.1:8500/m,host=a b", "host must be a host name"),
        ("k=nope://127.0.0.1:8500/m", "unknown scheme nope://"),
        ("k=127.0.0.1:8500/m,protocol=smoke", "unknown protocol"),
    ):
        with pytest.raises(ValueError, match=words):
            BackendSpec.parse(bad)
    with pytest.raises(ValueError, match="protocol"):
        BackendSpec.from_dict({**spec.to_dict(), "protocol": "carrier-pigeon"})
