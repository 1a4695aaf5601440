"""What every backend client offers, plus the pieces gRPC and REST share: choosing the signature
from the model's metadata and wording errors so a user understands them."""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tfcompare.serving.answers import ModelStatus, PredictOutcome, ServingError, SignatureInfo
from tfcompare.serving.backend_spec import BackendSpec

DEFAULT_SIGNATURE = "serving_default"
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # ≥ 64 MB both ways; a 2048 px PNG is 6–10 MB
# Valid for both HTTP headers and gRPC metadata (gRPC keys are sent lower-cased).
_HEADER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


class BodyTooLarge(Exception):
    """An HTTP answer went on past the reader's limit."""


def read_body(resp, deadline: float, limit: int) -> bytes:
    """An ``http.client`` response's whole body; TimeoutError past ``deadline`` (monotonic: a
    server trickling bytes restarts the socket's own timeout with every byte), BodyTooLarge past
    ``limit`` bytes (an endless answer would fill memory)."""
    body = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        chunk = resp.read1(1 << 20)
        if not chunk:
            resp.read()  # marks the response complete, so a keep-alive connection is reused
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge


@dataclass(frozen=True)
class SignatureDef:
    """One signature as described by the metadata: input/output key → dtype name."""

    name: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]

    @property
    def takes_image_bytes(self) -> bool:
        return len(self.inputs) == 1 and next(iter(self.inputs.values())) == "DT_STRING"


def choose_signature(
    defs: Mapping[str, SignatureDef], wanted: str | None, model: str, version: int | None
) -> SignatureInfo:
    """``wanted`` if given; else ``serving_default`` when it takes image bytes; else the first
    signature with a single DT_STRING input (``predict_images`` preferred).

    Raises ServingError NOT_FOUND (no such signature) or INVALID_ARGUMENT (no usable input)."""
    usable = {k: v for k, v in defs.items() if not k.startswith("__")}
    names = ", ".join(sorted(usable)) or "none"
    if wanted:
        sig = usable.get(wanted)
        if sig is None:
            raise ServingError(
                "NOT_FOUND", f"model '{model}' has no signature '{wanted}' (it has: {names})"
            )
        if not sig.takes_image_bytes:
            ins = ", ".join(f"{k} ({t})" for k, t in sig.inputs.items()) or "none"
            raise ServingError(
                "INVALID_ARGUMENT",
                f"signature '{wanted}' of model '{model}' does not take encoded image bytes: it "
                f"needs one DT_STRING input, it has {ins}",
            )
    else:
        candidates = [k for k, v in usable.items() if v.takes_image_bytes]
        if not candidates:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"no signature of model '{model}' takes encoded image bytes (one DT_STRING input); "
                f"signatures: {names}",
            )
        for pick in (DEFAULT_SIGNATURE, "predict_images"):
            if pick in candidates:
                break
        else:
            pick = candidates[0]
        sig = usable[pick]
    key, dtype = next(iter(sig.inputs.items()))
    return SignatureInfo(
        signature_name=sig.name,
        input_key=key,
        input_dtype=dtype,
        output_keys=tuple(sig.outputs),
        model_version=version,
    )


def reachability(address: str, detail: str) -> str:
    """``backend 127.0.0.1:8500 is not reachable (connection refused)``."""
    low = detail.lower()
    if "http1.x server" in low or "expected settings frame" in low:
        why = (
            "it answers HTTP/1.x, not gRPC: is this TF Serving's REST port (8501)? Use REST for it"
        )
    elif "not http/1.x" in low:
        why = "it does not answer HTTP/1.x: is this TF Serving's gRPC port (8500)? Use gRPC for it"
    elif "refused" in low:
        why = "connection refused"
    elif "resolv" in low or "name or service" in low or "dns" in low:
        why = "host name not found"
    elif "timed out" in low or "timeout" in low:
        why = "connection timed out"
    elif "ssl" in low or "handshake" in low or "certificate" in low:
        why = f"TLS failed: {detail}"
    elif "reset" in low or "closed" in low or "eof" in low:
        why = "connection closed by the server"
    else:
        why = detail.strip() or "no answer"
    return f"backend {address} is not reachable ({why})"


class BackendClient(abc.ABC):
    """One TF Serving backend over one long-lived channel/connection pool; thread-safe."""

    def __init__(
        self,
        spec: BackendSpec,
        address: str | None = None,
        where: Callable[[], str] | None = None,
    ):
        if address is None and spec.is_k8s:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"backend '{spec.name}' is a Kubernetes target ({spec.target}): "
                "connect through a port-forward and pass its local address",
            )
        for key, value in spec.headers:
            if not _HEADER_KEY.match(key) or not _HEADER_VALUE.match(value):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"backend '{spec.name}': header {key!r} is not usable (names: letters, digits, "
                    "'-', '_', '.'; values: printable ASCII)",
                )
        if spec.model is None:
            raise ServingError(
                "INVALID_ARGUMENT", f"backend '{spec.name}': no model name (resolve it first)"
            )
        self.spec = spec
        self.address = address or spec.target
        self._where = where

    @property
    def where(self) -> str:
        """The backend as messages name it: its address, or for a port-forward the service and
        pod (``where`` given by the forward), never the local relay port the user never saw."""
        return self._where() if self._where is not None else self.address

    @abc.abstractmethod
    def status(self) -> ModelStatus:
        """Model versions and their states; raises ServingError."""

    @abc.abstractmethod
    def metadata(self) -> SignatureInfo:
        """The signature Predict will use (see :func:`choose_signature`); raises ServingError."""

    @abc.abstractmethod
    def predict(
        self, data: bytes, signature: SignatureInfo, *, timeout_s: float | None = None
    ) -> PredictOutcome:
        """Send one encoded image; raises ServingError."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the channel/connections; the client is unusable afterwards."""

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeout(self, timeout_s: float | None) -> float:
        return float(timeout_s if timeout_s is not None else self.spec.deadline_s)
