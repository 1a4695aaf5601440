"""TF Serving's REST API (port 8501) over keep-alive ``http.client`` connections.

``http.client`` connections are not thread-safe, so the client keeps a small pool: each call
borrows an idle connection (or opens one) and gives it back when the answer has been read.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

import numpy as np

from tfcompare.serving import outputs
from tfcompare.serving.answers import ModelStatus, PredictOutcome, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import (
    BackendClient,
    BodyTooLarge,
    SignatureDef,
    choose_signature,
    reachability,
    read_body,
)

_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# The most of one answer read: tfcompare reads classification answers (a top-5, or one score per
# class), far smaller; JSON numbers take ~10× their text in memory once parsed.
MAX_ANSWER_BYTES = 64 << 20


class _Stale(ConnectionError):
    """A reused keep-alive connection was closed by the server before answering."""


class RestClient(BackendClient):
    """TF Serving REST: ``:predict`` with ``{"b64": …}``, model status and metadata."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            raise ServingError(
                "INVALID_ARGUMENT", f"bad backend address {self.address!r}: expected HOST:PORT"
            )
        self._host, self._port = host.strip("[]"), int(port)
        self._ssl: ssl.SSLContext | None = None
        if spec.tls_ca:
            try:
                self._ssl = ssl.create_default_context(cafile=spec.tls_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ServingError(
                    "INVALID_ARGUMENT", f"cannot read TLS CA file {spec.tls_ca}: {exc}"
                ) from exc
        self._headers = {k: v for k, v in spec.headers}
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        base = f"/v1/models/{quote(spec.model, safe='')}"
        if spec.version is not None:
            base += f"/versions/{spec.version}"
        self._base = base

    # ------------------------------------------------------------------ connections

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._ssl is not None:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _borrow(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._closed:
                raise ServingError("CANCELLED", f"client for {self.where} is closed")
            if self._idle:
                conn = self._idle.pop()
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                return conn, True
        return self._connect(timeout), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _once(
        self, method: str, path: str, body: bytes | None, timeout: float
    ) -> tuple[int, bytes]:
        conn, reused = self._borrow(timeout)
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + timeout
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = read_body(resp, deadline, MAX_ANSWER_BYTES)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            if reused:
                raise _Stale from exc
            raise
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return resp.status, data

    def _call(
        self, method: str, path: str, body: bytes | None, timeout: float
    ) -> tuple[int, bytes]:
        """One HTTP exchange → (status, body); network failures become ServingError."""
        try:
            try:
                return self._once(method, path, body, timeout)
            except _Stale:  # the server dropped idle keep-alive connections: one fresh try
                self._drop_idle()
                return self._once(method, path, body, timeout)
        except TimeoutError:
            raise ServingError(
                "DEADLINE_EXCEEDED",
                f"backend {self.where} did not answer within {timeout:g} s (deadline exceeded)",
            ) from None
        except BodyTooLarge:
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                f"backend {self.where} sent an answer larger than {MAX_ANSWER_BYTES >> 20} MB; "
                "tfcompare stopped reading it",
            ) from None
        except ssl.SSLError as exc:
            raise ServingError("UNAVAILABLE", reachability(self.where, f"ssl: {exc}")) from None
        except http.client.BadStatusLine:
            # e.g. a gRPC port's HTTP/2 frames: the raw bytes would only garble the message
            raise ServingError("UNAVAILABLE", reachability(self.where, "not HTTP/1.x")) from None
        except (OSError, http.client.HTTPException) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ServingError("UNAVAILABLE", reachability(self.where, detail)) from None

    def _json(self, method: str, path: str, body: bytes | None, timeout: float):
        status, data = self._call(method, path, body, timeout)
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = None
        if status != 200:
            code = _HTTP_CODES.get(status, "UNKNOWN")
            text = doc.get("error") if isinstance(doc, dict) else None
            text = text or data[:300].decode("utf-8", errors="replace") or f"HTTP {status}"
            if code == "NOT_FOUND":
                text = f"model '{self.spec.model}' on {self.where}: {text}"
            else:
                text = f"{self.where}: {text}"
            raise ServingError(code, text)
        if not isinstance(doc, dict):
            raise ServingError("INTERNAL", f"{self.where} answered with something that is not JSON")
        return doc

    # ------------------------------------------------------------------ calls

    def status(self) -> ModelStatus:
        doc = self._json("GET", self._base, None, self._timeout(None))
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

    def metadata(self) -> SignatureInfo:
        doc = self._json("GET", self._base + "/metadata", None, self._timeout(None))
        try:
            sigs = doc["metadata"]["signature_def"]["signature_def"]
        except (KeyError, TypeError):
            raise ServingError(
                "INTERNAL", f"{self.where} sent model metadata without a signature_def map"
            ) from None
        defs = {
            name: SignatureDef(
                name=name,
                inputs={
                    k: str(t.get("dtype", "DT_INVALID"))
                    for k, t in (sd.get("inputs") or {}).items()
                },
                outputs={
                    k: str(t.get("dtype", "DT_INVALID"))
                    for k, t in (sd.get("outputs") or {}).items()
                },
            )
            for name, sd in sigs.items()
        }
        version = (doc.get("model_spec") or {}).get("version")
        version = int(version) if version not in (None, "") else None
        return choose_signature(defs, self.spec.signature, self.spec.model, version)

    @property
    def predict_path(self) -> str:
        """The URL path of ``:predict`` for this backend's model (and version)."""
        return self._base + ":predict"

    def build_request(self, data: bytes, signature: SignatureInfo) -> bytes:
        """The JSON body of ``:predict`` for one image."""
        b64 = base64.b64encode(data).decode("ascii")
        return (
            '{"signature_name":'
            + json.dumps(signature.signature_name)
            + ',"instances":[{"b64":"'
            + b64
            + '"}]}'
        ).encode("ascii")

    def predict(
        self, data: bytes, signature: SignatureInfo, *, timeout_s: float | None = None
    ) -> PredictOutcome:
        timeout = self._timeout(timeout_s)
        t0 = time.perf_counter()
        body = self.build_request(data, signature)
        t1 = time.perf_counter()
        doc = self._json("POST", self._base + ":predict", body, timeout)
        t2 = time.perf_counter()
        try:
            arrays = _outputs(doc, signature)
            top5, kind = outputs.top5(arrays)
        except (ValueError, TypeError, KeyError) as exc:
            raise ServingError(
                "INVALID_ARGUMENT", f"cannot read the answer of {self.where}: {exc}"
            ) from None
        t3 = time.perf_counter()
        return PredictOutcome(
            top5=top5,
            score_kind=kind,
            model_version=signature.model_version,
            latency_ms=(t2 - t1) * 1000.0,
            client_ms=((t1 - t0) + (t3 - t2)) * 1000.0,
            bytes_sent=len(body),
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


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
