"""REST front end shaped like TF Serving's (``--rest_api_port``): status, metadata, predict.

JSON shapes, URL forms and the error body ``{"error": "..."}`` with its HTTP status follow
tensorflow_serving/model_servers/http_rest_api_handler.cc so REST clients written for TF Serving
work unchanged. This module turns (method, path, body) into (status, JSON); the HTTP side
(limits, timeouts, TLS) is ``http_server``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
from google.protobuf import json_format

from tfcompare.checks import nested_deeper_than
from tfcompare.localserve import json_tensors, metrics
from tfcompare.localserve.servable import (
    AVAILABLE,
    Servable,
    ServingFault,
    check_requested_name,
)

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>-?\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>/metadata|:predict|:classify|:regress)?$"
)
_STATE_NAMES = {
    0: "UNKNOWN",
    10: "START",
    20: "LOADING",
    30: "AVAILABLE",
    40: "UNLOADING",
    50: "END",
}
_HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _metric_labels(method: str, path: str) -> tuple[str, str]:
    """(model_name, API) as TF Serving labels a REST request: API is the POST method
    (``predict``, ``classify``, ``regress``) and empty for GET (status, metadata)."""
    match = _PATH.match(path.split("?", 1)[0])
    if not match:
        return "", ""
    tail = match["tail"] or ""
    return match["name"], tail[1:] if method == "POST" and tail.startswith(":") else ""


def _bad(message: str) -> ServingFault:
    return ServingFault(grpc.StatusCode.INVALID_ARGUMENT, message)


class RestApi:
    """Request handling independent of the HTTP plumbing (path + body → status + JSON)."""

    def __init__(self, servable: Servable, *, timeout_ms: int | None = None) -> None:
        self.servable = servable
        self.timeout_ms = timeout_ms  # bounds each Predict's model run, as in TF Serving

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | bytes]:
        start = metrics.now_us()
        try:
            answer = 200, self._dispatch(method, path, body)
            code = "OK"
        except ServingFault as fault:
            answer = _HTTP_STATUS.get(fault.code, 500), {"error": fault.message}
            code = fault.code.name
        model, api = _metric_labels(method, path)
        metrics.record_request(model, api, "REST", code, metrics.now_us() - start)
        return answer

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """Like :meth:`handle`, with the answer encoded as JSON (runs on a worker thread)."""
        status, payload = self.handle(method, path, body)
        if isinstance(payload, bytes):  # a Predict answer, written by json_tensors
            return status, payload
        return status, json.dumps(payload).encode("utf-8")

    def _dispatch(self, method: str, path: str, body: bytes) -> dict[str, Any] | bytes:
        match = _PATH.match(path.split("?", 1)[0])
        if not match:
            raise _bad(f"Malformed request: {method} {path}")
        name, label, tail = match["name"], match["label"], match["tail"]
        check_requested_name(name)
        version = _version(match["version"]) if match["version"] is not None else None
        if method == "GET" and tail is None:
            return self._status(name, version, label)
        if method == "GET" and tail == "/metadata":
            return self._metadata(name, version, label)
        if method == "POST" and tail == ":predict":
            return self._predict(name, version, label, body)
        if method == "POST" and tail in (":classify", ":regress"):
            raise ServingFault(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{tail[1:]} is not supported by tfcompare's local server",
            )
        raise _bad(f"Malformed request: {method} {path}")

    def _status(self, name: str, version: int | None, label: str | None) -> dict[str, Any]:
        s = self.servable
        if label:
            if label not in s.labels:
                raise _bad(f"Unrecognized servable version label: {label}")
            version = s.labels[label]
        if name != s.name:
            raise ServingFault(
                grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}"
            )
        if version is not None and version != s.version:
            raise ServingFault(
                grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}"
            )
        return {
            "model_version_status": [
                {
                    "version": str(s.version),
                    "state": _STATE_NAMES.get(s.state, "UNKNOWN"),
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def _metadata(self, name: str, version: int | None, label: str | None) -> dict[str, Any]:
        served = self.servable.check_spec(name, version, label)
        from tensorflow_serving.apis import get_model_metadata_pb2

        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.servable.signature_defs.items():
            sig_map.signature_def[key].CopyFrom(sig)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(served)},
            "metadata": {
                "signature_def": json_format.MessageToDict(
                    sig_map, preserving_proto_field_name=True
                )
            },
        }

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        """TF Serving's ``ProcessPredictRequest`` (http_rest_api_handler.cc): the JSON parsed
        and checked, the model and signature looked up, the request turned into tensors
        (:mod:`json_tensors`), the same Predict as gRPC, the answer written as JSON."""
        try:
            request = json_tensors.loads(body)
            if not isinstance(request, dict):
                raise json_tensors.JsonTensorError(
                    f"JSON Value: {json_tensors.debug_string(request)} Is not object"
                )
            _check_depth(request)
            signature_name = request.get("signature_name", "")
            if not isinstance(signature_name, str):
                raise json_tensors.JsonTensorError(
                    f"JSON Value: {json_tensors.debug_string(request)} not formatted correctly. "
                    "'signature_name' key must be a string value."
                )
            self.servable.check_spec(name, version, label)
            signature_name, sig = self.servable.signature(signature_name)
            if not sig.inputs:
                raise json_tensors.JsonTensorError(
                    f"Failed to get input map for signature: {signature_name}"
                )
            inputs = {key: sig.inputs[key].dtype for key in sorted(sig.inputs)}
            form, tensors = json_tensors.parse_predict(
                request, inputs, fast=json_tensors.fast_ok(body)
            )
            if self.servable.state != AVAILABLE:
                raise ServingFault(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})"
                )
            _, outputs = self.servable.predict_arrays(
                signature_name, tensors, timeout_ms=self.timeout_ms
            )
            return json_tensors.dumps_predict(outputs, form)
        except json_tensors.JsonTensorError as exc:
            raise ServingFault(exc.code, exc.message) from None


MAX_DEPTH = json_tensors.MAX_NESTING


def _version(text: str) -> int:
    """A version from the URL; like TF Serving, it must be a 64-bit integer."""
    if len(text) > 20 or not -(2**63) <= int(text) < 2**63:
        raise _bad(f"Failed to convert version: {text[:40]} to numeric.")
    return int(text)


def _check_depth(document: Any) -> None:
    """Refuse JSON nested deeper than any tensor can be (checked without recursion)."""
    if nested_deeper_than(document, MAX_DEPTH):
        raise _bad(f"JSON Value: nested deeper than {MAX_DEPTH} levels")
