"""The Open Inference Protocol over REST (``/v2/…``: Triton, MLServer, KServe's model server,
OpenVINO Model Server), on the deadline-bounded keep-alive connections every HTTP protocol
shares (``rest_client.HttpBackend``).

Status is ``GET /v2/models/{m}[/versions/{v}]/ready`` (a round trip that runs no model, also the
path floor), metadata ``GET /v2/models/{m}[/versions/{v}]``, and one image is one
``POST …/infer``, in one of two forms chosen from what the server says of itself (``GET /v2``):

- **binary** (Triton's binary tensor extension): a JSON header whose input carries
  ``"parameters": {"binary_data_size": N}``, then the input's raw bytes (an encoded image as one
  BYTES element: a 4-byte little-endian length and its bytes), with the header's length in
  ``Inference-Header-Content-Length``; outputs are asked for in binary too. Used when the server
  lists the ``binary_tensor_data`` extension (Triton), and for numeric tensors to KServe's model
  server from 0.13 on, which reads and writes binary tensors (kserve/kserve#3685) without listing
  the extension — but turns a binary BYTES input into UTF-8 text for the model (0.21 still), so
  an encoded image goes to it as JSON.
- **JSON**: ``{"inputs": [{"name", "shape", "datatype", "data"}]}`` with the tensor's values
  flattened row-major; an encoded image as a base64 string with
  ``"parameters": {"content_type": "base64"}`` — MLServer's convention, which its codecs decode
  back to bytes (JSON strings cannot carry arbitrary bytes; on KServe the model decodes it).

Answers are read in either form, whatever was asked; a binary answer whose lengths do not add
up (the header's length past the body, a tensor's bytes past the end or left over) is an error
that says which.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

import numpy as np
import orjson

from tfcompare.serving import oip, outputs
from tfcompare.serving.answers import ModelStatus, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest
from tfcompare.serving.http import HttpAnswer
from tfcompare.serving.inputs import RequestInput
from tfcompare.serving.rest_client import HttpBackend, numbers_json

HEADER_LENGTH = "Inference-Header-Content-Length"
_JSON_TYPE = (("Content-Type", "application/json"),)
_BINARY_TYPE = (("Content-Type", "application/octet-stream"),)
# servers that read Triton's binary numeric tensors without listing the extension (binary BYTES
# they do not keep as bytes): name → first version
BINARY_WITHOUT_EXTENSION = {"kserve": (0, 13)}


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def takes_binary(name: str, version: str, extensions: Sequence[str]) -> tuple[bool, bool]:
    """Whether a server (as ``GET /v2`` describes it) reads Triton's binary tensor extension:
    (for numeric tensors, for BYTES)."""
    if oip.BINARY_EXTENSION in extensions:
        return True, True
    first = BINARY_WITHOUT_EXTENSION.get(str(name).lower())
    return first is not None and _release(version) >= first, False


def json_body(value: RequestInput) -> bytes:
    """``POST …/infer`` with the image's tensor as JSON values (an encoded image in base64)."""
    head: dict[str, object] = {
        "name": value.key,
        "shape": list(value.shape),
        "datatype": oip.oip_datatype(value.dtype),
    }
    if value.is_string:
        head["parameters"] = {"content_type": "base64"}
        data = b'["' + base64.b64encode(value.encoded) + b'"]'
    else:
        data = numbers_json(value.array.reshape(-1))
    text = orjson.dumps(head)
    return b'{"inputs":[' + text[:-1] + b',"data":' + data + b"}]}"


def binary_body(value: RequestInput, output_keys: Sequence[str]) -> tuple[bytes, int]:
    """``POST …/infer`` in Triton's binary form: (body, length of its JSON header)."""
    raw = oip.raw_contents(value)
    header: dict = {
        "inputs": [
            {
                "name": value.key,
                "shape": list(value.shape),
                "datatype": oip.oip_datatype(value.dtype),
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    if output_keys:
        header["outputs"] = [
            {"name": key, "parameters": {"binary_data": True}} for key in output_keys
        ]
    text = orjson.dumps(header)
    return text + raw, len(text)


def _flat(data: object, limit: int) -> list:
    """A JSON tensor's ``data`` (flat or nested lists) as one flat list (at most ``limit``
    values: more is an error, not a larger list)."""
    if not isinstance(data, list):
        raise ValueError("an output's data is not a list")
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
            if len(flat) > limit:
                raise ValueError(f"an output holds more values than its shape ({limit})")
        else:
            stack.pop()
    return flat


def answer_arrays(headers: Mapping[str, str], body: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """An ``…/infer`` answer (JSON, or JSON then binary tensors) → (output arrays, its JSON).
    ValueError saying what does not add up."""
    length = headers.get(HEADER_LENGTH.lower())
    binary = memoryview(b"")
    text: bytes | memoryview = body
    if length is not None:
        try:
            json_size = int(length.strip())
        except ValueError:
            raise ValueError(f"its {HEADER_LENGTH} is not a number ({length[:40]!r})") from None
        if not 0 <= json_size <= len(body):
            raise ValueError(
                f"its {HEADER_LENGTH} says the JSON part is {json_size} bytes, but the body has "
                f"{len(body)}"
            )
        view = memoryview(body)
        text, binary = view[:json_size], view[json_size:]
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"its JSON part is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
        raise ValueError("it has no list of outputs")
    arrays: dict[str, np.ndarray] = {}
    at = 0
    for out in doc["outputs"]:
        if not isinstance(out, dict):
            raise ValueError("an output is not an object")
        name = str(out.get("name", f"output_{len(arrays)}"))
        datatype = str(out.get("datatype", ""))
        shape = out.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise ValueError(f"output {name} has no usable shape ({str(shape)[:60]})")
        params = out.get("parameters")
        if not isinstance(params, dict):
            params = {}
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"output {name} has a bad binary_data_size ({size!r})")
            if size > len(binary) - at:
                raise ValueError(
                    f"output {name} claims {size} bytes of binary data but only "
                    f"{len(binary) - at} follow"
                )
            arrays[name] = oip.from_raw(datatype, shape, binary[at : at + size])
            at += size
        else:
            count = oip.element_count(shape)
            arrays[name] = oip.from_values(datatype, shape, _flat(out.get("data"), count))
    if at != len(binary):
        raise ValueError(f"{len(binary) - at} bytes of binary data follow the last output")
    return arrays, doc


class OipRestClient(HttpBackend):
    """One Open Inference Protocol REST backend."""

    def __init__(
        self, spec: BackendSpec, address: str | None = None, where: Callable[[], str] | None = None
    ):
        super().__init__(spec, address, where)
        base = f"/v2/models/{quote(spec.model or '', safe='')}"
        if spec.version is not None:
            base += f"/versions/{quote(str(spec.version), safe='')}"
        self._base = base
        # settled by metadata(): the server reads binary numeric tensors / binary BYTES
        self.binary: tuple[bool, bool] = (False, False)
        self.server: tuple[str, str, tuple[str, ...]] = ("", "", ())

    # ------------------------------------------------------------------ calls

    def status(self) -> ModelStatus:
        timeout = self._timeout(None)
        answer = self._exchange("GET", self._base + "/ready", None, timeout)
        try:
            doc = orjson.loads(answer.body) if answer.body.strip() else {}
        except orjson.JSONDecodeError:
            doc = None
        version = oip.version_value(None if self.spec.version is None else str(self.spec.version))
        if answer.status == 200 and not (isinstance(doc, dict) and doc.get("ready") is False):
            versions = ((version, "AVAILABLE"),) if version is not None else ()
            return ModelStatus(available=True, versions=versions)
        error = self._error(answer.status, answer.body, doc)
        text = error.message.lower()
        if error.code == "NOT_FOUND" or "unknown model" in text or "not found" in text:
            raise ServingError("NOT_FOUND", error.message)
        if answer.status not in (200, 400, 409, 503):
            raise error
        what = f"model '{self.spec.model}'"
        if self.spec.version is not None:
            what = f"version {self.spec.version} of {what}"
        why = f"{what} on {self.where} is not ready"
        detail = error.message.split(": ", 1)[-1] if answer.status != 200 else ""
        if (
            detail
            and detail != f"HTTP {answer.status}"
            and "without an error message" not in detail
        ):
            why += f" ({detail[:200]})"
        state = ((version, "NOT_READY"),) if version is not None else ()
        return ModelStatus(available=False, versions=state, message=why)

    def server_metadata(self, timeout: float | None = None) -> tuple[str, str, tuple[str, ...]]:
        """(name, version, extensions) from ``GET /v2``."""
        doc = self._json("GET", "/v2", None, self._timeout(timeout))
        ext = doc.get("extensions")
        extensions = tuple(str(e) for e in ext) if isinstance(ext, list) else ()
        return str(doc.get("name", "")), str(doc.get("version", "")), extensions

    def metadata(self) -> SignatureInfo:
        timeout = self._timeout(None)
        doc = self._json("GET", self._base, None, timeout)

        def infos(key: str):
            items = doc.get(key)
            if not isinstance(items, list):
                return []
            return [
                oip.tensor_info(t.get("name", ""), t.get("datatype", ""), t.get("shape"))
                for t in items
                if isinstance(t, dict)
            ]

        try:
            self.server = self.server_metadata(timeout)
        except ServingError:
            self.server = ("", "", ())  # no server metadata: JSON, which every server reads
        self.binary = takes_binary(*self.server)
        versions = doc.get("versions")
        version = oip.version_value(None if self.spec.version is None else str(self.spec.version))
        if version is None and isinstance(versions, list) and len(versions) == 1:
            version = oip.version_value(str(versions[0]))
        return oip.signature(
            infos("inputs"),
            infos("outputs"),
            model=self.spec.model or "",
            where=self.where,
            declared=self.spec.input,
            version=version,
        )

    @property
    def infer_path(self) -> str:
        return self._base + "/infer"

    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        if self.binary[1] if value.is_string else self.binary[0]:
            body, length = binary_body(value, signature.output_keys)
            return PreparedRequest(
                self.infer_path, body, (*_BINARY_TYPE, (HEADER_LENGTH, str(length)))
            )
        return PreparedRequest(self.infer_path, json_body(value), _JSON_TYPE)

    def send(self, request: PreparedRequest, timeout: float) -> HttpAnswer:
        answer = self._exchange("POST", request.path, request.body, timeout, request.headers)
        if answer.status != 200:
            try:
                doc = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                doc = None
            raise self._error(answer.status, answer.body, doc)
        return answer

    def read(self, raw: HttpAnswer, signature: SignatureInfo):
        arrays, doc = answer_arrays(raw.headers, raw.body)
        top5, kind = outputs.top5(arrays, self.names)
        return top5, kind, oip.version_value(str(doc.get("model_version") or ""))
