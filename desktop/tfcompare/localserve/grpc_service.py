"""gRPC front end: the official TF Serving servicers (PredictionService, ModelService)."""

from __future__ import annotations

from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from tfcompare.localserve import GRPC_OPTIONS, GRPC_SERVER_OPTIONS, metrics
from tfcompare.localserve.budget import BudgetExceeded, ByteBudget
from tfcompare.localserve.servable import Servable, ServingFault, check_requested_name
from tfcompare.localserve.tensors import fill_proto

DEFAULT_IN_FLIGHT = 1024 * 2**20  # bytes of Predict requests worked on at once (--max-in-flight-mb)
IN_USE = (
    "the port is in use (another server on it?) or not allowed: choose another port, or 0 "
    "for any free one"
)


def _spec(spec) -> tuple[str, int | None, str | None]:
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.HasField("version_label") else None
    return spec.name, version, label


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify/Regress/MultiInference stay UNIMPLEMENTED."""

    def __init__(
        self,
        servable: Servable,
        *,
        tensor_content: bool = False,
        budget: ByteBudget | None = None,
    ) -> None:
        self.servable = servable
        self.tensor_content = tensor_content
        self.budget = budget or ByteBudget(DEFAULT_IN_FLIGHT)

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        start = metrics.now_us()
        model = request.model_spec.name
        try:
            with self.budget.hold(request.ByteSize()):
                metrics.bytes_in_flight.set(self.budget.used)
                response = self._predict(request, context)
        except (BudgetExceeded, ServingFault) as exc:
            fault = (
                exc
                if isinstance(exc, ServingFault)
                else ServingFault(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            )
            metrics.record_request(
                model, "Predict", "GRPC", fault.code.name, metrics.now_us() - start
            )
            context.abort(fault.code, fault.message)
        finally:
            metrics.bytes_in_flight.set(self.budget.used)
        metrics.record_request(model, "Predict", "GRPC", "OK", metrics.now_us() - start)
        return response

    def _predict(self, request, context):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # queued past the client's deadline (e.g. the server was paused): skip the work,
            # as TF Serving does by mapping the deadline into the session's run timeout
            raise ServingFault(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")
        # the rest of the deadline bounds the model run (none, or longer than a day: no bound)
        timeout_ms = max(1, int(remaining * 1000)) if remaining and remaining < 86400 else None
        version = self.servable.check_spec(*_spec(request.model_spec))
        name, outputs = self.servable.predict(
            request.model_spec.signature_name, request.inputs, request.output_filter, timeout_ms
        )
        response = predict_pb2.PredictResponse()
        for key, value in outputs.items():  # written in place: nothing built twice or copied
            fill_proto(response.outputs[key], value, tensor_content=self.tensor_content)
        response.model_spec.name = self.servable.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = name
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            version = self.servable.check_spec(*_spec(request.model_spec))
            if not request.metadata_field:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "GetModelMetadataRequest must specify at least one metadata_field",
                )
            for field_name in request.metadata_field:
                if field_name != "signature_def":
                    raise ServingFault(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Metadata field {field_name} is not supported",
                    )
        except ServingFault as fault:
            context.abort(fault.code, fault.message)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.servable.name
        response.model_spec.version.value = version
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.servable.signature_defs.items():
            sig_map.signature_def[key].CopyFrom(sig)
        response.metadata["signature_def"].Pack(sig_map)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (HandleReloadConfigRequest stays UNIMPLEMENTED)."""

    def __init__(self, servable: Servable) -> None:
        self.servable = servable

    def GetModelStatus(self, request, context):  # noqa: N802
        name, version, label = _spec(request.model_spec)
        servable = self.servable
        try:
            check_requested_name(name)
        except ServingFault as fault:
            context.abort(fault.code, fault.message)
        if label:
            if label not in servable.labels:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Unrecognized servable version label: {label}",
                )
            version = servable.labels[label]
        if name != servable.name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None and version != servable.version:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}"
            )
        response = get_model_status_pb2.GetModelStatusResponse()
        entry = response.model_version_status.add()
        entry.version = servable.version
        entry.state = servable.state
        entry.status.CopyFrom(status_pb2.StatusProto(error_code=0, error_message=""))
        return response


class _RequireHeader(grpc.ServerInterceptor):
    """Refuses calls without the expected metadata, as an authenticating gateway in front of
    TF Serving does (UNAUTHENTICATED when missing, PERMISSION_DENIED when wrong)."""

    def __init__(self, name: str, value: str):
        self.name = name.lower()
        self.value = value

    def intercept_service(self, continuation, handler_call_details):
        got = dict(handler_call_details.invocation_metadata or ()).get(self.name)
        if got == self.value:
            return continuation(handler_call_details)
        code, text = (
            (grpc.StatusCode.UNAUTHENTICATED, f"missing {self.name} metadata")
            if got is None
            else (grpc.StatusCode.PERMISSION_DENIED, f"wrong {self.name} metadata")
        )

        def refuse(_request, context):
            context.abort(code, text)

        return grpc.unary_unary_rpc_method_handler(refuse)


def make_server(
    servable: Servable,
    host: str,
    port: int,
    *,
    tensor_content: bool,
    workers: int,
    tls: tuple[bytes, bytes] | None = None,
    require_header: tuple[str, str] | None = None,
    in_flight_bytes: int = DEFAULT_IN_FLIGHT,
) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server and the port it bound.

    ``tls`` is (private key PEM, certificate chain PEM), like TF Serving's ssl_config_file.
    """
    interceptors: list[grpc.ServerInterceptor] = (
        [_RequireHeader(*require_header)] if require_header else []
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc-worker"),
        options=GRPC_OPTIONS + GRPC_SERVER_OPTIONS,
        interceptors=interceptors,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(
            servable, tensor_content=tensor_content, budget=ByteBudget(in_flight_bytes)
        ),
        server,
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(servable), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is not None:
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([tls]))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        if "failed to bind" in str(exc).lower():  # grpcio says no more than that
            raise OSError(f"cannot listen for gRPC on {address}: {IN_USE}") from exc
        raise OSError(f"cannot listen for gRPC on {address}: {exc}") from exc
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {address}: {IN_USE}")
    return server, bound
