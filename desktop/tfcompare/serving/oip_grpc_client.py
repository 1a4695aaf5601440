"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``: Triton, MLServer,
KServe's model server, OpenVINO Model Server).

The messages come from ``grpc_predict_v2.proto`` beside this module, compiled into
``grpc_predict_v2_pb2`` (the protocol's own messages, written for protobuf 4.25 and newer; how to
regenerate it is in the .proto). A small module of our own rather than a client package:
``tritonclient[grpc]`` ships the same stubs but pins its own protobuf and pulls in gevent, and
KServe's and MLServer's stubs come only with their servers. No gRPC stub module is needed either:
each method is called by its path on the channel.

ModelInfer goes through a raw unary-unary call on pre-serialised bytes, as the TF Serving client
does, so that ``latency_ms`` is the network and the server alone and ``client_ms`` tfcompare's
own request building and answer parsing. Inputs travel in ``raw_input_contents`` (an encoded
image as one BYTES element: a 4-byte little-endian length and its bytes); answers are read from
``raw_output_contents`` or from the typed ``contents``.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from tfcompare.serving import grpc_predict_v2_pb2 as pb
from tfcompare.serving import oip, outputs
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import BackendClient, PreparedRequest
from tfcompare.serving.grpc_client import open_channel, rpc_failure
from tfcompare.serving.inputs import RequestInput

SERVICE = "/inference.GRPCInferenceService/"
INFER_METHOD = SERVICE + "ModelInfer"
# typed contents field per datatype (FP16 and BF16 have none: raw only)
_CONTENTS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def infer_request(
    model: str, version: str, value: RequestInput, parameters: dict[str, str] | None = None
) -> pb.ModelInferRequest:
    """The ModelInferRequest for one image: one input, its contents in raw form."""
    req = pb.ModelInferRequest(model_name=model, model_version=version)
    tensor = req.inputs.add(
        name=value.key, datatype=oip.oip_datatype(value.dtype), shape=list(value.shape)
    )
    for key, text in (parameters or {}).items():
        tensor.parameters[key].string_param = text
    req.raw_input_contents.append(oip.raw_contents(value))
    return req


def response_arrays(resp: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """A ModelInferResponse's outputs as arrays; ValueError when one does not fit its shape."""
    raws = resp.raw_output_contents
    if raws and len(raws) != len(resp.outputs):
        raise ValueError(f"the answer has {len(resp.outputs)} outputs but {len(raws)} raw contents")
    arrays: dict[str, np.ndarray] = {}
    for i, out in enumerate(resp.outputs):
        datatype = out.datatype.upper()
        if raws:
            arrays[out.name] = oip.from_raw(datatype, out.shape, raws[i])
            continue
        field = _CONTENTS.get(datatype)
        if field is None:
            raise ValueError(
                f"output {out.name} ({out.datatype}) came without raw contents, and "
                f"{out.datatype} has no typed field"
            )
        arrays[out.name] = oip.from_values(datatype, out.shape, getattr(out.contents, field))
    return arrays


class OipGrpcClient(BackendClient):
    """One Open Inference Protocol gRPC backend on one long-lived channel."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        self._channel = open_channel(self.address, spec.tls_ca, spec.host_header)
        # bytes in, bytes out
        self._infer_raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            INFER_METHOD
        )
        self._calls = {
            name: self._channel.unary_unary(
                SERVICE + name,
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )
            for name, request, response in (
                ("ServerLive", pb.ServerLiveRequest, pb.ServerLiveResponse),
                ("ServerReady", pb.ServerReadyRequest, pb.ServerReadyResponse),
                ("ModelReady", pb.ModelReadyRequest, pb.ModelReadyResponse),
                ("ServerMetadata", pb.ServerMetadataRequest, pb.ServerMetadataResponse),
                ("ModelMetadata", pb.ModelMetadataRequest, pb.ModelMetadataResponse),
            )
        }
        self._metadata = tuple((k.lower(), v) for k, v in spec.headers) or None
        self._version = "" if spec.version is None else str(spec.version)

    def _rpc(self, name: str, request, timeout: float | None = None):
        timeout = self._timeout(timeout)
        try:
            return self._calls[name](request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise rpc_failure(exc, self.where, self.spec.model, timeout) from None

    # ------------------------------------------------------------------ calls

    def status(self) -> ModelStatus:
        """ModelReady: one round trip that runs no model (also the path floor)."""
        model = self.spec.model or ""
        try:
            resp = self._rpc("ModelReady", pb.ModelReadyRequest(name=model, version=self._version))
        except ServingError as exc:
            if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "NOT_FOUND", "CANCELLED"):
                raise
            # MLServer answers ModelReady for a model it does not have with UNKNOWN; its
            # ModelMetadata says NOT_FOUND, in the protocol's words
            self._rpc("ModelMetadata", pb.ModelMetadataRequest(name=model, version=self._version))
            raise
        version = oip.version_value(self._version)
        if resp.ready:
            versions = ((version, "AVAILABLE"),) if version is not None else ()
            return ModelStatus(available=True, versions=versions)
        what = f"model '{model}'"
        if self._version:
            what = f"version {self._version} of {what}"
        why = f"{what} on {self.where} is not ready"
        try:
            server_ready = self._rpc("ServerReady", pb.ServerReadyRequest()).ready
        except ServingError:
            server_ready = True
        if not server_ready:
            why += " (the server is not ready either)"
        state = ((version, "NOT_READY"),) if version is not None else ()
        return ModelStatus(available=False, versions=state, message=why)

    def server_metadata(self) -> tuple[str, str, tuple[str, ...]]:
        """(name, version, extensions) of the server."""
        resp = self._rpc("ServerMetadata", pb.ServerMetadataRequest())
        return resp.name, resp.version, tuple(resp.extensions)

    def metadata(self) -> SignatureInfo:
        model = self.spec.model or ""
        resp = self._rpc(
            "ModelMetadata", pb.ModelMetadataRequest(name=model, version=self._version)
        )
        inputs = [oip.tensor_info(t.name, t.datatype, list(t.shape)) for t in resp.inputs]
        outs = [oip.tensor_info(t.name, t.datatype, list(t.shape)) for t in resp.outputs]
        version = oip.version_value(self._version)
        if version is None and len(resp.versions) == 1:
            version = oip.version_value(resp.versions[0])
        return oip.signature(
            inputs,
            outs,
            model=model,
            where=self.where,
            declared=self.spec.input,
            version=version,
        )

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        """The serialised ModelInferRequest for one image (also what the load engine sends)."""
        req = infer_request(self.spec.model or "", self._version, value)
        return PreparedRequest(INFER_METHOD, req.SerializeToString())

    def send(self, request: PreparedRequest, timeout: float) -> bytes:
        try:
            return self._infer_raw(request.body, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise rpc_failure(exc, self.where, self.spec.model, timeout) from None

    def read(self, raw: bytes, signature: SignatureInfo):
        try:
            resp = pb.ModelInferResponse.FromString(raw)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        top5, kind = outputs.top5(response_arrays(resp), self.names)
        return top5, kind, oip.version_value(resp.model_version)

    def close(self) -> None:
        self._channel.close()
