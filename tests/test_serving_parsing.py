"""Output parsing on real TensorProto messages: typed fields, tensor_content, ids, full vectors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfcompare.serving import make_client, outputs, tensor_proto
from tfcompare.serving._protos import predict_pb2, types_pb2
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import SignatureDef, choose_signature
from tfcompare.serving.inputs import TensorInfo
from tfcompare.serving.labels import imagenet_labels, label_for


def _tensor(values: np.ndarray, dtype: int, packed: bool = False):
    t = predict_pb2.PredictResponse().outputs["x"]
    t.dtype = dtype
    for s in values.shape:
        t.tensor_shape.dim.add().size = s
    if dtype == types_pb2.DT_STRING:
        t.string_val.extend(values.reshape(-1).tolist())
    elif packed:
        t.tensor_content = values.astype(values.dtype.newbyteorder("<")).tobytes()
    else:
        field = {
            types_pb2.DT_FLOAT: "float_val",
            types_pb2.DT_DOUBLE: "double_val",
            types_pb2.DT_INT32: "int_val",
            types_pb2.DT_INT64: "int64_val",
        }[dtype]
        getattr(t, field).extend(values.reshape(-1).tolist())
    # round-trip through the wire format, as a real answer would arrive
    return type(t).FromString(t.SerializeToString())


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize(
    ("dtype", "np_dtype"),
    [
        (types_pb2.DT_FLOAT, np.float32),
        (types_pb2.DT_DOUBLE, np.float64),
        (types_pb2.DT_INT32, np.int32),
        (types_pb2.DT_INT64, np.int64),
    ],
)
def test_to_numpy_typed_and_packed_agree(dtype, np_dtype, packed):
    values = (np.arange(12).reshape(1, 12) * 3 - 7).astype(np_dtype)
    arr = tensor_proto.to_numpy(_tensor(values, dtype, packed))
    assert arr.shape == (1, 12)
    assert arr.dtype == np.dtype(np_dtype)
    np.testing.assert_array_equal(arr, values)


def test_to_numpy_strings_and_repeated_fill():
    arr = tensor_proto.to_numpy(
        _tensor(np.array([[b"cat", b"dog"]], dtype=object), types_pb2.DT_STRING)
    )
    assert arr.shape == (1, 2) and arr[0, 1] == b"dog"
    t = predict_pb2.PredictResponse().outputs["y"]
    t.dtype = types_pb2.DT_FLOAT
    t.tensor_shape.dim.add().size = 4
    t.float_val.append(0.25)  # TensorFlow's compressed form: one value fills the tensor
    np.testing.assert_array_equal(tensor_proto.to_numpy(t), np.full(4, 0.25, np.float32))


def test_to_numpy_half_and_unsupported():
    t = predict_pb2.PredictResponse().outputs["h"]
    t.dtype = types_pb2.DT_HALF
    t.tensor_shape.dim.add().size = 2
    t.half_val.extend(np.array([0.5, -2.0], np.float16).view(np.uint16).tolist())
    np.testing.assert_array_equal(tensor_proto.to_numpy(t), np.array([0.5, -2.0], np.float16))
    t.dtype = types_pb2.DT_COMPLEX64
    with pytest.raises(ValueError, match="DT_COMPLEX64"):
        tensor_proto.to_numpy(t)


def test_inception_style_strings_with_logits():
    classes = np.array(
        [[b"tabby", b"tiger cat", b"Egyptian cat", b"lynx", b"remote"]], dtype=object
    )
    scores = np.array([[9.1, 8.2, 7.7, 3.0, 1.5]], np.float32)
    top, kind = outputs.top5({"classes": classes, "scores": scores})
    assert [p.label for p in top] == ["tabby", "tiger cat", "Egyptian cat", "lynx", "remote"]
    assert top[0].score == pytest.approx(9.1, rel=1e-6)
    assert kind == "logit"


def test_unsorted_topk_ids_are_sorted_and_mapped():
    ids = np.array([[282, 281, 285, 287, 283]], np.int64)
    probs = np.array([[0.1, 0.6, 0.05, 0.01, 0.2]], np.float32)
    top, kind = outputs.top5({"class_ids": ids, "probabilities": probs})
    assert [p.label for p in top] == [imagenet_labels()[i] for i in (281, 283, 282, 285, 287)]
    assert top[0].label == "tabby"
    assert kind == "probability"


def test_full_probability_vector_1000_and_1001():
    vec = np.full(1000, 0.5 / 995, np.float32)
    vec[[281, 282, 285, 0, 999]] = [0.2, 0.15, 0.1, 0.03, 0.02]
    vec /= vec.sum()
    top, kind = outputs.top5({"output_0": vec[None, :]})
    assert [p.label for p in top][:3] == ["tabby", "tiger cat", "Egyptian cat"]
    assert kind == "probability"
    shifted = np.concatenate([[0.0], vec])  # 1001 classes: background at 0
    top, kind = outputs.top5({"predictions": shifted[None, :]})
    assert [p.label for p in top][:3] == ["tabby", "tiger cat", "Egyptian cat"]
    assert label_for(0, 1001) == "background"


def test_full_logit_vector_and_small_model():
    logits = np.linspace(-3, 4, 10, dtype=np.float32)
    top, kind = outputs.top5({"logits": logits[None, :]})
    assert [p.label for p in top] == ["class 9", "class 8", "class 7", "class 6", "class 5"]
    assert kind == "logit"
    sigmoid = np.full(10, 0.9, np.float32)  # in [0,1] but not a distribution
    assert outputs.top5({"scores": sigmoid})[1] == "unknown"


def test_prefers_probabilities_over_logits_and_classes_by_shape():
    logits = np.zeros(1000, np.float32)
    logits[5] = 10
    probs = np.exp(logits) / np.exp(logits).sum()
    top, kind = outputs.top5({"logits": logits, "probabilities": probs.astype(np.float32)})
    assert kind == "probability" and top[0].label == imagenet_labels()[5]
    # unnamed outputs: ints of the same length as the floats are the classes
    top, kind = outputs.top5(
        {"out_a": np.array([[3, 1]], np.int32), "out_b": np.array([[0.7, 0.2]], np.float32)}
    )
    assert [p.label for p in top] == [imagenet_labels()[3], imagenet_labels()[1]]


def test_no_scores_is_a_clear_error():
    with pytest.raises(ValueError, match="no scores"):
        outputs.top5({"classes": np.array([b"a"], dtype=object)})


def test_labels_file():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[281] == "tabby" and labels[999] == "toilet tissue"
    assert label_for(1000) == "class 1000"


def _defs(**sigs):
    """Signatures from ``{input: (dtype, shape)}``; every one answers a 1000-score vector."""
    return {
        n: SignatureDef(
            n,
            tuple(TensorInfo(k, dtype, shape) for k, (dtype, shape) in ins.items()),
            (TensorInfo("scores", "float32", (-1, 1000)),),
        )
        for n, ins in sigs.items()
    }


def test_choose_signature():
    defs = _defs(
        serving_default={"x": ("float32", (-1, 10))},
        predict_images={"images": ("string", (-1,))},
        __saved_model_init_op={},
    )
    sig = choose_signature(defs, None, "m", 7)
    assert (sig.signature_name, sig.input_key, sig.model_version) == ("predict_images", "images", 7)
    assert sig.input_text == "takes encoded bytes" and sig.num_classes == 1000
    sig = choose_signature(
        _defs(serving_default={"image_bytes": ("string", (-1,))}, other={"b": ("string", (1,))}),
        None,
        "m",
        None,
    )
    assert sig.signature_name == "serving_default" and sig.input_key == "image_bytes"
    with pytest.raises(ServingError) as err:
        choose_signature(defs, "nope", "m", None)
    assert err.value.code == "NOT_FOUND" and "predict_images" in err.value.message
    with pytest.raises(ServingError) as err:
        choose_signature(defs, "serving_default", "m", None)
    assert err.value.code == "INVALID_ARGUMENT" and "x (float32 [?, 10])" in err.value.message
    with pytest.raises(ServingError) as err:
        choose_signature(_defs(a={"x": ("float32", (-1, 10))}), None, "m", None)
    assert err.value.code == "INVALID_ARGUMENT" and "4-D image tensor" in err.value.message


def test_choose_signature_takes_an_image_tensor():
    """A Keras export (``serving_default`` taking ``input_image`` float32 [-1, 224, 224, 3])
    is used, its tensor input described as the status shows it."""
    sig = choose_signature(
        _defs(serving_default={"input_image": ("float32", (-1, 224, 224, 3))}, serve={}),
        None,
        "keras",
        1,
    )
    assert sig.signature_name == "serving_default" and sig.input_key == "input_image"
    assert sig.input_text == "takes float32 224×224×3 NHWC"


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
@pytest.mark.parametrize("header", [("bad key", "v"), ("x-auth", "line\nbreak"), ("grpc-bin", "é")])
def test_unusable_headers_are_refused_clearly(protocol, header):
    spec = BackendSpec("b", "127.0.0.1:8500", protocol=protocol, headers=(header,))
    with pytest.raises(ServingError) as err:
        make_client(spec)
    assert err.value.code == "INVALID_ARGUMENT" and repr(header[0]) in err.value.message
    ok = BackendSpec(
        "b", "127.0.0.1:8500", protocol=protocol, headers=(("Authorization", "Bearer x"),)
    )
    make_client(ok).close()


def _pair_answer(
    classes: list, class_dtype: int, scores: list[float], score_dtype: int, batch: bool
):
    """A PredictResponse's outputs with one class tensor and one score tensor, as on the wire."""
    resp = predict_pb2.PredictResponse()
    for key, values, dtype in (("classes", classes, class_dtype), ("scores", scores, score_dtype)):
        t = resp.outputs[key]
        t.dtype = dtype
        if batch:
            t.tensor_shape.dim.add().size = 1
        t.tensor_shape.dim.add().size = len(values)
        field = {
            types_pb2.DT_STRING: "string_val",
            types_pb2.DT_INT32: "int_val",
            types_pb2.DT_INT64: "int64_val",
            types_pb2.DT_FLOAT: "float_val",
            types_pb2.DT_DOUBLE: "double_val",
        }[dtype]
        getattr(t, field).extend(values)
    return type(resp).FromString(resp.SerializeToString()).outputs


def _general_top5(protos):
    return outputs.top5({k: tensor_proto.to_numpy(v) for k, v in protos.items()})


def test_a_models_own_top5_is_read_without_numpy_and_gives_the_same_answer():
    from tfcompare.serving.grpc_client import _top5_of_pair

    protos = _pair_answer(
        [b"281", b"282", b"285", b"287", b"728"],
        types_pb2.DT_STRING,
        [0.05, 0.6, 0.2, 0.1, 0.01],
        types_pb2.DT_FLOAT,
        batch=True,
    )
    quick = _top5_of_pair(protos)
    assert quick is not None  # the demo model's answer takes the quick path
    assert quick == _general_top5(protos)
    assert [p.label for p in quick[0]][:2] == [label_for(282), label_for(285)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # huge scores, summed
@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n=st.integers(0, 12),
    class_dtype=st.sampled_from([types_pb2.DT_STRING, types_pb2.DT_INT32, types_pb2.DT_INT64]),
    score_dtype=st.sampled_from([types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE]),
    batch=st.booleans(),
)
def test_the_quick_top5_agrees_with_the_general_one(data, n, class_dtype, score_dtype, batch):
    """On any pair answer the quick path either declines (None) or says what top5() says."""
    from tfcompare.serving.grpc_client import _top5_of_pair

    if class_dtype == types_pb2.DT_STRING:
        names = st.one_of(
            st.integers(0, 1500).map(lambda i: str(i).encode()),
            st.text(min_size=1, max_size=8).map(str.encode),
        )
        classes = data.draw(st.lists(names, min_size=n, max_size=n))
    else:
        classes = data.draw(st.lists(st.integers(0, 2000), min_size=n, max_size=n))
    width = 32 if score_dtype == types_pb2.DT_FLOAT else 64
    scores = data.draw(
        st.lists(
            st.floats(width=width, allow_nan=True, allow_infinity=True)
            | st.sampled_from([0.0, 0.5, 1.0, 0.25]),
            min_size=n,
            max_size=n,
        )
    )
    protos = _pair_answer(classes, class_dtype, scores, score_dtype, batch)
    quick = _top5_of_pair(protos)
    if quick is not None:
        assert quick == _general_top5(protos)
    elif n and all(np.isfinite(scores)) and n <= 2 * outputs.TOP_K:
        raise AssertionError("a finite short pair should take the quick path")
