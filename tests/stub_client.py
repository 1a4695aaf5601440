"""A TF Serving client written with nothing but grpc + the official tensorflow_serving.apis stubs.

Used by the local-server tests to prove `tfcompare serve` behaves like tensorflow_model_server for
any ordinary client (tfcompare's own client is deliberately not used here). The stubs are the
official generated modules, loaded through ``tfcompare.serving._protos`` so that the test process
never runs TensorFlow's initialiser (seconds and hundreds of MB; the modules are the same ones).
"""

from __future__ import annotations

import io

import grpc
import numpy as np
from PIL import Image

from tfcompare.serving._protos import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)

OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


def channel(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target, options=OPTIONS)


def string_tensor(*values: bytes) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))]
        ),
        string_val=list(values),
    )


def predict_request(
    data: bytes | list[bytes],
    *,
    model: str = "tiny",
    signature: str = "",
    key: str = "images",
    version: int | None = None,
    label: str | None = None,
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    values = data if isinstance(data, list) else [data]
    request.inputs[key].CopyFrom(string_tensor(*values))
    return request


def predict(
    target: str, request: predict_pb2.PredictRequest, timeout: float = 30
) -> predict_pb2.PredictResponse:
    with channel(target) as ch:
        return prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(request, timeout)


def metadata(
    target: str,
    model: str = "tiny",
    fields: tuple[str, ...] = ("signature_def",),
    version: int | None = None,
) -> get_model_metadata_pb2.SignatureDefMap:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    with channel(target) as ch:
        response = prediction_service_pb2_grpc.PredictionServiceStub(ch).GetModelMetadata(
            request, 30
        )
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    return response, sig_map


def status(
    target: str, model: str = "tiny", version: int | None = None
) -> get_model_status_pb2.GetModelStatusResponse:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    with channel(target) as ch:
        return model_service_pb2_grpc.ModelServiceStub(ch).GetModelStatus(request, 30)


def rpc_error(call, *args) -> grpc.RpcError:
    """The RpcError a call raises (fails the test if it succeeds)."""
    try:
        call(*args)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError(f"{getattr(call, '__name__', call)} succeeded but should have failed")


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def pattern(width: int = 160, height: int = 120, seed: int = 0) -> Image.Image:
    """A structured test picture (gradients + blocks): not noise, so the model's answer is stable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    b = np.zeros_like(r)
    for _ in range(4):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        b[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(64, 255)
    return Image.fromarray(np.stack([r, g, b], axis=-1))


def array(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a response tensor from typed fields or tensor_content (test-side reference)."""
    shape = [d.size for d in proto.tensor_shape.dim]
    dtype = {
        types_pb2.DT_FLOAT: np.float32,
        types_pb2.DT_INT64: np.int64,
        types_pb2.DT_DOUBLE: np.float64,
        types_pb2.DT_INT32: np.int32,
    }.get(proto.dtype)
    if proto.dtype == types_pb2.DT_STRING:
        return np.array(list(proto.string_val), dtype=object).reshape(shape)
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=np.dtype(dtype).newbyteorder("<")).reshape(
            shape
        )
    field = {
        np.float32: "float_val",
        np.int64: "int64_val",
        np.float64: "double_val",
        np.int32: "int_val",
    }[dtype]
    return np.array(getattr(proto, field), dtype=dtype).reshape(shape)
