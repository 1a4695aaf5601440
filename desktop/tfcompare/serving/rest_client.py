"""TF Serving's REST API (port 8501): status, metadata and ``:predict`` over keep-alive
connections whose every exchange is bounded by the request's deadline (``serving.http``).

Images go as ``{"b64": …}`` (encoded bytes) or as nested lists of numbers (tensor inputs), in
TF Serving's row (``instances``) or columnar (``inputs``) format, written by orjson.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Callable
from urllib.parse import quote

import numpy as np
import orjson

from tfcompare.serving import outputs
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import (
    BackendClient,
    PreparedRequest,
    SignatureDef,
    choose_signature,
    http_code_name,
    reachability,
)
from tfcompare.serving.http import (
    BodyTooLarge,
    HttpAnswer,
    HttpProtocolError,
    HttpTimeout,
    pool_for,
)
from tfcompare.serving.inputs import RequestInput, TensorInfo
from tfcompare.serving.tensor_proto import numpy_name

# The most of one answer read: tfcompare reads classification answers (a top-5, or one score per
# class), far smaller; JSON numbers take ~10× their text in memory once parsed.
MAX_ANSWER_BYTES = 64 << 20
MAX_ERROR_CHARS = 400  # of a server's error text, in a message
_JSON = {"Content-Type": "application/json"}


def http_failure(exc: BaseException, where: str, timeout: float, limit: int) -> ServingError:
    """A failed HTTP exchange as the error a user reads (shared by every HTTP protocol)."""
    if isinstance(exc, TimeoutError):
        return ServingError(
            "DEADLINE_EXCEEDED",
            f"backend {where} did not answer within {timeout:g} s (deadline exceeded)",
        )
    if isinstance(exc, BodyTooLarge):
        return ServingError(
            "RESOURCE_EXHAUSTED",
            f"backend {where} sent an answer larger than {limit >> 20} MB; tfcompare stopped "
            "reading it",
        )
    if isinstance(exc, ssl.SSLError):
        return ServingError("UNAVAILABLE", reachability(where, f"ssl: {exc}"))
    if isinstance(exc, HttpProtocolError):
        # e.g. a gRPC port's HTTP/2 frames: the raw bytes would only garble the message
        detail = "not HTTP/1.x" if "not HTTP/1.x" in str(exc) else str(exc)
        return ServingError("UNAVAILABLE", reachability(where, detail))
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ServingError("UNAVAILABLE", reachability(where, detail))


class HttpBackend(BackendClient):
    """What every HTTP protocol's client shares: the connection pool (TLS, the Host header) and
    one exchange that becomes ``(status, body)`` or a ServingError."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        try:
            self._pool = pool_for(self.address, tls_ca=spec.tls_ca, host_header=spec.host_header)
        except ValueError as exc:
            raise ServingError("INVALID_ARGUMENT", f"bad backend address: {exc}") from None
        except (OSError, ssl.SSLError) as exc:
            raise ServingError(
                "INVALID_ARGUMENT", f"cannot read TLS CA file {spec.tls_ca}: {exc}"
            ) from exc
        self._headers = tuple(spec.headers)

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> tuple[int, bytes]:
        """One HTTP exchange → (status, body); network failures become ServingError."""
        answer = self._exchange(method, path, body, timeout, headers)
        return answer.status, answer.body

    def _exchange(
        self,
        method: str,
        path: str,
        body: bytes | None,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> HttpAnswer:
        """One HTTP exchange → the whole answer (status, headers, body); network failures
        become ServingError."""
        extra = [*self._headers, *headers]
        try:
            answer = self._pool.request(
                method,
                path,
                headers=extra,
                body=body,
                deadline=time.monotonic() + timeout,
                limit=MAX_ANSWER_BYTES,
            )
        except ConnectionAbortedError:
            raise ServingError("CANCELLED", f"client for {self.where} is closed") from None
        except (OSError, ssl.SSLError, HttpTimeout, BodyTooLarge, HttpProtocolError) as exc:
            raise http_failure(exc, self.where, timeout, MAX_ANSWER_BYTES) from None
        return answer

    def _error(self, status: int, data: bytes, doc: object) -> ServingError:
        code = http_code_name(status)
        text = doc.get("error") if isinstance(doc, dict) else None
        if not isinstance(text, str):
            text = None
        text = text or data[:300].decode("utf-8", errors="replace")
        if not text.strip(" {}[]\"'\r\n\t"):  # "", "{}", "[]": the server said nothing
            text = f"HTTP {status} without an error message"
        if len(text) > MAX_ERROR_CHARS:  # a server may quote a whole request back
            text = text[:MAX_ERROR_CHARS] + f"… ({len(text)} characters)"
        if code == "NOT_FOUND":
            return ServingError(code, f"model '{self.spec.model}' on {self.where}: {text}")
        return ServingError(code, f"{self.where}: {text}")

    def _json(self, method: str, path: str, body: bytes | None, timeout: float, headers=()):
        status, data = self._call(method, path, body, timeout, (*_JSON.items(), *headers))
        doc = _loads(data)
        if status != 200:
            raise self._error(status, data, doc)
        if not isinstance(doc, dict):
            raise ServingError("INTERNAL", f"{self.where} answered with something that is not JSON")
        return doc

    def close(self) -> None:
        self._pool.close()


def tf_status(doc: dict) -> ModelStatus:
    """TF Serving's ``GET /v1/models/NAME`` answer (``model_version_status``) → ModelStatus."""
    versions = tuple(
        (int(v.get("version", 0)), str(v.get("state", "UNKNOWN")))
        for v in doc.get("model_version_status", [])
    )
    errors = "; ".join(
        f"version {v.get('version')}: {v['status']['error_message']}"
        for v in doc.get("model_version_status", [])
        if (v.get("status") or {}).get("error_message")
    )
    return ModelStatus(
        available=any(s == "AVAILABLE" for _, s in versions), versions=versions, message=errors
    )


def _shape(info: dict) -> tuple[int, ...] | None:
    """A REST metadata ``tensor_shape`` → dims (-1 for any size), None for an unknown rank."""
    shape = info.get("tensor_shape") if isinstance(info, dict) else None
    if not isinstance(shape, dict) or shape.get("unknown_rank"):
        return None
    dims = []
    for d in shape.get("dim") or []:
        try:
            dims.append(int((d or {}).get("size", -1)))
        except (TypeError, ValueError):
            dims.append(-1)
    return tuple(dims)


def _infos(tensors: object) -> tuple[TensorInfo, ...]:
    if not isinstance(tensors, dict):
        return ()
    return tuple(
        TensorInfo(str(k), numpy_name(str((t or {}).get("dtype", "DT_INVALID"))), _shape(t or {}))
        for k, t in tensors.items()
    )


def numbers_json(array: np.ndarray) -> bytes:
    """A numeric array as nested JSON lists, written compactly by orjson (float32 values in their
    shortest form)."""
    return orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)


def predict_body(value: RequestInput, signature_name: str, *, columnar: bool = False) -> bytes:
    """The JSON body of TF Serving's ``:predict`` for one image: row format (``instances``: one
    entry per example) or columnar (``inputs``: the batch as one tensor per input)."""
    sig = json.dumps(signature_name).encode()
    if value.is_string:
        image = b'{"b64":"' + base64.b64encode(value.encoded) + b'"}'
        data = b"[" + image + b"]"
    else:
        data = numbers_json(value.array)  # [1, …]: the batch of one is the list of examples
    if columnar:
        key = json.dumps(value.key).encode()
        return b'{"signature_name":' + sig + b',"inputs":{' + key + b":" + data + b"}}"
    if value.is_string:
        return b'{"signature_name":' + sig + b',"instances":' + data + b"}"
    key = json.dumps(value.key).encode()
    # one named input per example: [{"key": [[…]]}] — TF Serving also takes the bare list when
    # the signature has one input, but the name keeps a multi-input model's error clear
    rows = b"[{" + key + b":" + data[1:-1] + b"}]"
    return b'{"signature_name":' + sig + b',"instances":' + rows + b"}"


class RestClient(HttpBackend):
    """TF Serving REST: ``:predict``, model status and metadata."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        base = f"/v1/models/{quote(self.model, safe='')}"
        if spec.version is not None:
            base += f"/versions/{spec.version}"
        self._base = base

    # ------------------------------------------------------------------ calls

    def status(self) -> ModelStatus:
        return tf_status(self._json("GET", self._base, None, self._timeout(None)))

    def metadata(self) -> SignatureInfo:
        doc = self._json("GET", self._base + "/metadata", None, self._timeout(None))
        try:
            sigs = doc["metadata"]["signature_def"]["signature_def"]
        except (KeyError, TypeError):
            raise ServingError(
                "INTERNAL", f"{self.where} sent model metadata without a signature_def map"
            ) from None
        if not isinstance(sigs, dict):
            raise ServingError("INTERNAL", f"{self.where} sent unreadable model metadata")
        defs = {
            str(name): SignatureDef(
                name=str(name),
                inputs=_infos((sd or {}).get("inputs") if isinstance(sd, dict) else None),
                outputs=_infos((sd or {}).get("outputs") if isinstance(sd, dict) else None),
            )
            for name, sd in sigs.items()
        }
        version = (doc.get("model_spec") or {}).get("version")
        version = int(version) if version not in (None, "") else None
        signature = choose_signature(defs, self.spec.signature, self.model, version)
        if signature.input_dtype == "float16":
            # TF Serving's JSON reader has no conversion to DT_HALF (util/json_tensor.cc): every
            # request would be answered 501 "Conversion of JSON Value … to type: half"
            raise ServingError(
                "UNIMPLEMENTED",
                f"model '{self.spec.model}' takes a float16 input ({signature.input_key}), which "
                "TF Serving's REST API cannot read from JSON: measure it over gRPC",
            )
        return signature

    @property
    def predict_path(self) -> str:
        """The URL path of ``:predict`` for this backend's model (and version)."""
        return self._base + ":predict"

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        return PreparedRequest(self.predict_path, predict_body(value, signature.signature_name))

    def send(self, request: PreparedRequest, timeout: float) -> bytes:
        status, data = self._call("POST", request.path, request.body, timeout, (*_JSON.items(),))
        if status != 200:
            raise self._error(status, data, _loads(data))
        return data

    def read(self, raw: bytes, signature: SignatureInfo):
        doc = orjson.loads(raw) if raw else {}
        if not isinstance(doc, dict):
            raise ValueError("the answer is not a JSON object")
        return (*outputs.top5(_outputs(doc, signature), self.names), None)


def _loads(data: bytes) -> object:
    """A JSON answer (an error's body) as parsed, or None when it is not JSON."""
    try:
        return orjson.loads(data) if data else {}
    except (orjson.JSONDecodeError, RecursionError):
        return None


def _array(value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind in "US":  # strings stay strings (class names)
        return arr.astype(object)
    return arr


def _outputs(doc: dict, signature: SignatureInfo) -> dict[str, np.ndarray]:
    """``{"predictions": [...]}`` (row format) or ``{"outputs": ...}`` (columnar) → key → array."""
    if "predictions" in doc:
        rows = doc["predictions"]
        first = rows[0] if isinstance(rows, list) and rows else rows
        if isinstance(first, dict):
            return {k: _array(v) for k, v in first.items()}
        key = signature.output_keys[0] if len(signature.output_keys) == 1 else "predictions"
        return {key: _array(first)}
    if "outputs" in doc:
        out = doc["outputs"]
        if isinstance(out, dict):
            return {k: _array(v) for k, v in out.items()}
        key = signature.output_keys[0] if len(signature.output_keys) == 1 else "outputs"
        return {key: _array(out)}
    raise ValueError(f"no 'predictions' or 'outputs' in the answer (keys: {', '.join(doc)})")
