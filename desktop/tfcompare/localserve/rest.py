"""REST front end shaped like TF Serving's (``--rest_api_port``): status, metadata, predict.

JSON shapes, URL forms and the error body ``{"error": "..."}`` with its HTTP status follow
tensorflow_serving/model_servers/http_rest_api_handler.cc so REST clients written for TF Serving
work unchanged. This module turns (method, path, body) into (status, JSON); the HTTP side
(limits, timeouts, TLS) is ``http_server``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2

from tfcompare.checks import nested_deeper_than
from tfcompare.localserve import metrics
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

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
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
        return status, json.dumps(payload).encode("utf-8")

    def _dispatch(self, method: str, path: str, body: bytes) -> dict[str, Any]:
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

    def _predict(
        self, name: str, version: int | None, label: str | None, body: bytes
    ) -> dict[str, Any]:
        self.servable.check_spec(name, version, label)
        try:
            request = json.loads(body or b"null")
        except RecursionError:
            raise _bad(
                f"JSON Parse error: the request nests more than {MAX_DEPTH} levels deep"
            ) from None
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise _bad(f"JSON Parse error: {str(exc)[:200]}") from exc
        if not isinstance(request, dict):
            raise _bad("JSON Value: request body is not an object")
        _check_depth(request)
        signature_name = request.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise _bad("JSON Value: 'signature_name' must be a string")
        signature_name, sig = self.servable.signature(signature_name)
        keys = list(sig.inputs)
        if ("instances" in request) == ("inputs" in request):
            raise _bad(
                "Missing 'inputs' or 'instances' key"
                if "inputs" not in request
                else "Both 'inputs' and 'instances' keys present"
            )
        dtypes = {k: sig.inputs[k].dtype for k in keys}
        if "instances" in request:
            columns = _rows_to_columns(request["instances"], keys)
        else:
            columns = _columnar(request["inputs"], keys)
        tensors = {k: _to_array(v, dtypes.get(k), k) for k, v in columns.items()}
        unknown = [k for k in tensors if k not in dtypes]
        if unknown:
            raise _bad(
                f"input tensor alias not found in signature: {unknown[0]}. Inputs "
                f"expected to be in the set {{{','.join(sorted(keys))}}}."
            )
        if self.servable.state != AVAILABLE:
            raise ServingFault(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})"
            )
        outputs = self.servable.run(signature_name, tensors, self.timeout_ms)
        values = {k: _to_json(k, np.asarray(v)) for k, v in outputs.items()}
        if "instances" in request:
            batch = len(next(iter(values.values()))) if values else 0
            if len(values) == 1:
                return {"predictions": next(iter(values.values()))}
            return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(batch)]}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}


MAX_DEPTH = 256  # TensorFlow tensors have at most 254 dimensions; {"b64": …} adds a level


def _version(text: str) -> int:
    """A version from the URL; like TF Serving, it must be a 64-bit integer."""
    if len(text) > 20 or not -(2**63) <= int(text) < 2**63:
        raise _bad(f"Failed to convert version: {text[:40]} to numeric.")
    return int(text)


def _check_depth(document: Any) -> None:
    """Refuse JSON nested deeper than any tensor can be (checked without recursion)."""
    if nested_deeper_than(document, MAX_DEPTH):
        raise _bad(f"JSON Value: nested deeper than {MAX_DEPTH} levels")


def _rows_to_columns(instances: Any, keys: list[str]) -> dict[str, list[Any]]:
    if not isinstance(instances, list) or not instances:
        raise _bad("'instances' must be a non-empty list")
    named = all(isinstance(row, dict) and "b64" not in row for row in instances)
    if named:
        columns: dict[str, list[Any]] = {k: [] for k in instances[0]}
        for row in instances:
            if set(row) != set(columns):
                raise _bad("Failed to process element: instances must all have the same keys")
            for k, v in row.items():
                columns[k].append(v)
        return columns
    if len(keys) != 1:
        raise _bad(f"instances must name their inputs: the signature takes {sorted(keys)}")
    return {keys[0]: instances}


def _columnar(inputs: Any, keys: list[str]) -> dict[str, Any]:
    if isinstance(inputs, dict) and "b64" not in inputs:
        return inputs
    if len(keys) != 1:
        raise _bad(f"inputs must name their tensors: the signature takes {sorted(keys)}")
    return {keys[0]: inputs}


def _decode_strings(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise _bad('JSON object: does not have named input: expected {"b64": "..."}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError as exc:
            raise _bad(f"Unable to base64 decode: {exc}") from exc
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _bad(f'expected a string or {{"b64": ...}} for a DT_STRING input, got {value!r:.40}')


def _to_array(value: Any, dtype: int | None, key: str) -> np.ndarray:
    if dtype is None:
        return np.asarray(0)  # reported as an unknown alias by the caller
    try:
        if dtype == types_pb2.DT_STRING:
            return _string_array(_decode_strings(value))
        return np.asarray(value, dtype=tf.dtypes.as_dtype(dtype).as_numpy_dtype)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise _bad(f"bad value for input {key}: {str(exc)[:300]}") from exc


def _string_array(value: Any) -> np.ndarray:
    """Nested lists of bytes as an object array, refusing ragged nesting as TensorFlow does."""
    array = np.array(value, dtype=object)
    if not all(isinstance(v, bytes) for v in array.flat):
        raise ValueError("Can't convert non-rectangular Python sequence to Tensor.")
    return array


def _to_json(key: str, array: np.ndarray) -> Any:
    if array.dtype == object:
        flat = [_string_json(key, s) for s in array.ravel()]
        return np.array(flat, dtype=object).reshape(array.shape).tolist()
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return array.tolist()


def _string_json(key: str, value: bytes) -> Any:
    if key.endswith("_bytes"):
        return {"b64": base64.b64encode(value).decode("ascii")}
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}
