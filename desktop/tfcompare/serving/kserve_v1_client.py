"""KServe's v1 protocol over REST: ``GET /v1/models/{m}`` (``{"name", "ready"}``) and
``POST /v1/models/{m}:predict`` with ``{"instances": […]}`` → ``{"predictions": […]}``.

v1 has no metadata call in KServe's Python model server, so what a model takes comes from:

1. the backend spec's ``input=`` option, when given (``bytes``, ``float32:224x224x3``,
   ``float32:224x224x3:nchw``, an optional ``NAME:`` in front);
2. otherwise TF Serving's ``GET /v1/models/{m}/metadata`` — KServe's TensorFlow runtime *is* TF
   Serving, whose signatures say it (the request is then TF Serving's own ``:predict`` body);
3. otherwise an error naming the ``input=`` option.

A declared input goes as one instance: an encoded image as ``{"b64": "…"}``, a tensor as its
nested lists (without the batch dimension); with a name, each instance is ``{NAME: …}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote

import orjson

from tfcompare.serving import oip, outputs
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest, SignatureDef, choose_signature
from tfcompare.serving.inputs import RequestInput, declared_input
from tfcompare.serving.rest_client import (
    HttpBackend,
    _infos,
    _outputs,
    numbers_json,
    predict_body,
    tf_status,
)

_JSON_TYPE = (("Content-Type", "application/json"),)


def instances_body(value: RequestInput, name: str | None) -> bytes:
    """``{"instances": [one instance]}`` for a declared input (``name``: each instance an
    object keyed by it)."""
    if value.is_string:
        item = b'{"b64":"' + base64.b64encode(value.encoded) + b'"}'
    else:
        item = numbers_json(value.array[0] if value.array.shape[:1] == (1,) else value.array)
    if name:
        item = b"{" + orjson.dumps(name) + b":" + item + b"}"
    return b'{"instances":[' + item + b"]}"


class KServeV1Client(HttpBackend):
    """One KServe v1 backend (KServe's Python model server, or TF Serving behind KServe)."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        base = f"/v1/models/{quote(spec.model or '', safe='')}"
        if spec.version is not None:  # TF Serving's version path (KServe's own has none)
            base += f"/versions/{quote(str(spec.version), safe='')}"
        self._base = base
        self._tf_serving = False  # the metadata came from TF Serving's metadata call
        self._name: str | None = None  # a declared input's name, when it was given one

    def status(self) -> ModelStatus:
        timeout = self._timeout(None)
        status, body = self._call("GET", self._base, None, timeout, _JSON_TYPE)
        try:
            doc = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            doc = None
        if status == 200 and isinstance(doc, dict) and "model_version_status" in doc:
            return tf_status(doc)  # TF Serving answers in its own words
        if status == 200 and isinstance(doc, dict) and doc.get("ready") is not False:
            return ModelStatus(available=True, versions=())
        error = self._error(status, body, doc)
        if status not in (200, 503):
            raise error
        detail = error.message.split(": ", 1)[-1] if status != 200 else ""
        why = f"model '{self.spec.model}' on {self.where} is not ready"
        if detail and detail != f"HTTP {status}":
            why += f" ({detail[:200]})"
        return ModelStatus(available=False, versions=(), message=why)

    def metadata(self) -> SignatureInfo:
        model = self.spec.model or ""
        if self.spec.input:
            self._tf_serving = False
            try:
                info, named = declared_input(self.spec.input)
            except ValueError as exc:
                raise ServingError("INVALID_ARGUMENT", str(exc)) from None
            self._name = info.name if named else None
            return oip.signature(
                [], [], model=model, where=self.where, declared=self.spec.input, version=None
            )
        timeout = self._timeout(None)
        status, body = self._call("GET", self._base + "/metadata", None, timeout, _JSON_TYPE)
        try:
            doc = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            doc = None
        sigs = None
        if status == 200 and isinstance(doc, dict):
            sigs = ((doc.get("metadata") or {}).get("signature_def") or {}).get("signature_def")
        if not isinstance(sigs, dict):
            said = f"answered HTTP {status}" if status != 200 else "has no TF Serving signatures"
            raise ServingError(
                "INVALID_ARGUMENT",
                f"model '{model}' on {self.where} does not say what it takes (KServe v1 has no "
                f"metadata call; GET {self._base}/metadata {said}): give it with the backend "
                "option input=bytes (an encoded image) or input=float32:224x224x3 (a tensor; "
                ":nchw for channels first)",
            )
        defs = {
            str(name): SignatureDef(
                name=str(name),
                inputs=_infos(sd.get("inputs") if isinstance(sd, dict) else None),
                outputs=_infos(sd.get("outputs") if isinstance(sd, dict) else None),
            )
            for name, sd in sigs.items()
        }
        model_spec = doc.get("model_spec") if isinstance(doc, dict) else None
        raw = model_spec.get("version") if isinstance(model_spec, dict) else None
        version = int(raw) if isinstance(raw, int | str) and str(raw or "").isdigit() else None
        self._tf_serving = True
        return choose_signature(defs, self.spec.signature, model, version)

    @property
    def predict_path(self) -> str:
        return self._base + ":predict"

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        if self._tf_serving:
            body = predict_body(value, signature.signature_name)
        else:
            body = instances_body(value, self._name)
        return PreparedRequest(self.predict_path, body, _JSON_TYPE)

    def send(self, request: PreparedRequest, timeout: float) -> dict:
        return self._json("POST", request.path, request.body, timeout)

    def read(self, raw: dict, signature: SignatureInfo):
        return (*outputs.top5(_outputs(raw, signature), self.names), None)
