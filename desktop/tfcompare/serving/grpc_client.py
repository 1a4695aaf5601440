"""TF Serving over gRPC with the official stubs (loaded without the TensorFlow runtime).

Predict goes through a raw unary-unary call on pre-serialised bytes so that the time spent in the
network and server (``latency_ms``) is measured apart from tfcompare's own request building and
response parsing (``client_ms``) — both are reported, neither is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc

from tfcompare.serving import outputs, tensor_proto
from tfcompare.serving._protos import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    types_pb2,
)
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import (
    MAX_MESSAGE_BYTES,
    BackendClient,
    PreparedRequest,
    SignatureDef,
    choose_signature,
    reachability,
)
from tfcompare.serving.inputs import RequestInput, TensorInfo

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.primary_user_agent", "tfcompare"),
)
_State = get_model_status_pb2.ModelVersionStatus.State


def channel_options(
    authority: str | None = None, base: tuple[tuple[str, object], ...] = CHANNEL_OPTIONS
) -> tuple[tuple[str, object], ...]:
    """Channel options: ``base`` plus, for ``authority`` (a backend's Host header), the
    ``:authority`` every call carries — what an ingress routes gRPC by, as it routes HTTP by the
    Host header — and, over TLS, the name the certificate is checked against."""
    if not authority:
        return base
    return (*base, ("grpc.default_authority", authority))


def open_channel(
    address: str, tls_ca: str | None = None, authority: str | None = None
) -> grpc.Channel:
    """A channel allowing large messages; TLS when a CA file is given; ``authority`` sent as
    every call's ``:authority`` (ingress routing: the backend spec's ``host=``)."""
    options = channel_options(authority)
    if tls_ca:
        try:
            ca = Path(tls_ca).read_bytes()
        except OSError as exc:
            raise ServingError(
                "INVALID_ARGUMENT", f"cannot read TLS CA file {tls_ca}: {exc.strerror}"
            ) from exc
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(ca), options)
    return grpc.insecure_channel(address, options)


def rpc_failure(exc: grpc.RpcError, where: str, model: str | None, timeout: float) -> ServingError:
    """A failed call as the error a user reads (shared by every gRPC protocol)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    name = code.name if code is not None else "UNKNOWN"
    detail = exc.details() if hasattr(exc, "details") else None
    if not isinstance(detail, str) or not detail.strip(" {}[]\"'\n"):
        # "", "{}": a server (or a gateway in front of it) that said nothing useful
        detail = f"the server answered {name} without saying why (no error details)"
    low = detail.lower()
    if name == "UNAVAILABLE" and ("unknown model" in low or "is not found" in low):
        # Triton answers a call for a model it does not have with UNAVAILABLE
        return ServingError("NOT_FOUND", f"model '{model}' on {where}: {detail}")
    if name == "UNAVAILABLE":
        return ServingError(name, reachability(where, detail))
    if name == "DEADLINE_EXCEEDED":
        return ServingError(
            name,
            f"backend {where} did not answer within {timeout:g} s (deadline exceeded)",
        )
    if name == "NOT_FOUND":
        return ServingError(name, f"model '{model}' on {where}: {detail}")
    if name == "RESOURCE_EXHAUSTED" and "larger than max" in detail:
        return ServingError(name, f"message too large for {where}: {detail}")
    return ServingError(name, f"{where}: {detail}")


class GrpcClient(BackendClient):
    """TF Serving PredictionService + ModelService on one long-lived channel."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        self._channel = open_channel(self.address, spec.tls_ca, spec.host_header)
        # bytes in, bytes out
        self._predict_raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            PREDICT_METHOD
        )
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._metadata = tuple((k.lower(), v) for k, v in spec.headers) or None

    # ------------------------------------------------------------------ errors

    def _error(self, exc: grpc.RpcError, timeout: float) -> ServingError:
        return rpc_failure(exc, self.where, self.spec.model, timeout)

    def _model_spec(self, msg, signature: str | None = None) -> None:
        msg.name = self.spec.model
        if self.spec.version is not None:
            msg.version.value = self.spec.version
        if signature:
            msg.signature_name = signature

    # ------------------------------------------------------------------ calls

    def status(self) -> ModelStatus:
        req = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(req.model_spec)
        timeout = self._timeout(None)
        try:
            resp = self._models.GetModelStatus(req, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc, timeout) from None
        versions = tuple(
            (int(v.version), _State.Name(v.state) if v.state in _State.values() else str(v.state))
            for v in resp.model_version_status
        )
        errors = "; ".join(
            f"version {v.version}: {v.status.error_message}"
            for v in resp.model_version_status
            if v.status.error_message
        )
        available = any(state == "AVAILABLE" for _, state in versions)
        return ModelStatus(available=available, versions=versions, message=errors)

    def metadata(self) -> SignatureInfo:
        req = get_model_metadata_pb2.GetModelMetadataRequest()
        self._model_spec(req.model_spec)
        req.metadata_field.append("signature_def")
        timeout = self._timeout(None)
        try:
            resp = self._prediction.GetModelMetadata(req, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc, timeout) from None
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" not in resp.metadata or not resp.metadata["signature_def"].Unpack(
            sig_map
        ):
            raise ServingError(
                "INTERNAL", f"{self.where} sent model metadata without a signature_def map"
            )
        defs = {
            name: SignatureDef(
                name=name,
                inputs=tuple(_info(k, t) for k, t in sd.inputs.items()),
                outputs=tuple(_info(k, t) for k, t in sd.outputs.items()),
            )
            for name, sd in sig_map.signature_def.items()
        }
        version = resp.model_spec.version.value if resp.model_spec.HasField("version") else None
        return choose_signature(defs, self.spec.signature, self.model, version)

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        """The serialised PredictRequest for one image (also used by the overhead benchmark)."""
        req = predict_pb2.PredictRequest()
        self._model_spec(req.model_spec, signature.signature_name)
        tensor_proto.request_tensor(value, req.inputs[value.key])
        return PreparedRequest(PREDICT_METHOD, req.SerializeToString())

    def send(self, request: PreparedRequest, timeout: float) -> bytes:
        try:
            return self._predict_raw(request.body, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc, timeout) from None

    def read(self, raw: bytes, signature: SignatureInfo):
        resp = predict_pb2.PredictResponse.FromString(raw)
        answer = _top5_of_pair(resp.outputs, self.names)
        if answer is None:
            answer = outputs.top5(
                {k: tensor_proto.to_numpy(v) for k, v in resp.outputs.items()}, self.names
            )
        version = resp.model_spec.version.value if resp.model_spec.HasField("version") else None
        return (*answer, version)

    def close(self) -> None:
        self._channel.close()


def _info(key: str, tensor) -> TensorInfo:
    """A signature's TensorInfo proto → dtype (numpy name) and shape."""
    shape = tensor.tensor_shape
    dims = None if shape.unknown_rank else tuple(int(d.size) for d in shape.dim)
    return TensorInfo(key, tensor_proto.numpy_name(tensor.dtype), dims)


def _top5_of_pair(protos, names=None) -> tuple | None:
    """The top-5 of a model's own top-k answer (one class tensor, one score tensor of the same
    short length) read straight off the protos, or None for any other answer."""
    if len(protos) != 2:
        return None
    classes = scores = None
    ids = False
    for proto in protos.values():
        values = tensor_proto.short_values(proto, 2 * outputs.TOP_K)
        if values is None:
            return None
        if proto.dtype in tensor_proto.SCORE_DTYPES:
            scores = values
        else:
            classes, ids = values, proto.dtype != types_pb2.DT_STRING
    if classes is None or scores is None:
        return None
    return outputs.top5_of_pair(classes, scores, ids=ids, names=names)
