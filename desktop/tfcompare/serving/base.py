"""What every backend client offers, plus the pieces gRPC and REST share: choosing the signature
from the model's metadata and wording errors so a user understands them."""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfcompare.serving.answers import (
    ModelStatus,
    Prediction,
    PredictOutcome,
    ScoreKind,
    ServingError,
    SignatureInfo,
)
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.inputs import RequestInput, TensorInfo, choose_input, takes_image
from tfcompare.serving.labels import ClassNames, LabelsError, imagenet, load_labels

DEFAULT_SIGNATURE = "serving_default"
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # ≥ 64 MB both ways; a 2048 px PNG is 6–10 MB
# Valid for both HTTP headers and gRPC metadata (gRPC keys are sent lower-cased).
_HEADER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class PreparedRequest:
    """One request ready to send: ``path`` (a gRPC method, or an HTTP path), the ``body`` bytes
    and any headers of its own (the Open Inference Protocol's binary extension). Built once, sent
    by the comparison client or, many times, by the load engine."""

    path: str
    body: bytes = field(repr=False)
    headers: tuple[tuple[str, str], ...] = ()


# HTTP status → the gRPC status name tfcompare reports it as (TF Serving's own mapping).
HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def http_code_name(status: int) -> str:
    """The error kind of an HTTP status (``UNKNOWN`` for one without a meaning here)."""
    return HTTP_CODES.get(status, "UNKNOWN")


@dataclass(frozen=True)
class SignatureDef:
    """One signature as the metadata describes it (inputs and outputs with dtype and shape)."""

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...] = ()

    @property
    def takes_image(self) -> bool:
        return takes_image(self.inputs)


def num_classes(outputs: Sequence[TensorInfo]) -> int | None:
    """The class count a model's outputs show, when they need class names from tfcompare: the
    static length of its widest score vector (``[-1, 1000]`` → 1000). None when the model names
    its classes itself (a string output), or when every score output has a class output of the
    same length beside it (a top-k answer says nothing of the class count), or sizes are unknown."""

    def width(info: TensorInfo) -> int | None:
        if not info.shape:
            return None
        dims = [d for d in info.shape[1:] if d != 1] if len(info.shape) > 1 else list(info.shape)
        return dims[0] if len(dims) == 1 and dims[0] > 0 else None

    if any(o.dtype == "string" for o in outputs):
        return None
    class_widths = {
        width(o) for o in outputs if o.dtype.startswith(("int", "uint")) and width(o) is not None
    }
    best = None
    for info in outputs:
        w = width(info) if info.dtype in ("float32", "float16", "float64") else None
        if w is not None and w not in class_widths:
            best = max(best or 0, w)
    return best


def choose_signature(
    defs: Mapping[str, SignatureDef], wanted: str | None, model: str, version: int | str | None
) -> SignatureInfo:
    """``wanted`` if given; else ``serving_default`` when it takes an image; else
    ``predict_images``; else the first signature that takes one (encoded bytes or an image
    tensor: ``tfcompare.serving.inputs``).

    Raises ServingError NOT_FOUND (no such signature) or INVALID_ARGUMENT (no usable input, with
    why)."""
    usable = {k: v for k, v in defs.items() if not k.startswith("__")}
    names = ", ".join(sorted(usable)) or "none"
    if wanted:
        sig = usable.get(wanted)
        if sig is None:
            raise ServingError(
                "NOT_FOUND", f"model '{model}' has no signature '{wanted}' (it has: {names})"
            )
    else:
        candidates = [k for k, v in usable.items() if v.takes_image]
        if not candidates:
            # the default signature's own reason is the most useful one
            first = usable.get(DEFAULT_SIGNATURE) or next(iter(usable.values()), None)
            if first is not None:
                choose_input(first.inputs, model=model, where=f"signature '{first.name}'")
            raise ServingError(
                "INVALID_ARGUMENT", f"model '{model}' has no signature (signatures: {names})"
            )
        for pick in (DEFAULT_SIGNATURE, "predict_images"):
            if pick in candidates:
                break
        else:
            pick = candidates[0]
        sig = usable[pick]
    kind = choose_input(sig.inputs, model=model, where=f"signature '{sig.name}'")
    info = next(i for i in sig.inputs if i.name == kind.key)
    return SignatureInfo(
        signature_name=sig.name,
        input_key=kind.key,
        input_dtype=info.dtype,
        output_keys=tuple(o.name for o in sig.outputs),
        model_version=version,
        input=kind,
        num_classes=num_classes(sig.outputs),
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
        self.model: str = spec.model
        self.address = address or spec.target
        self._where = where
        self._last_prepared: tuple[RequestInput, SignatureInfo, PreparedRequest] | None = None
        self.names: ClassNames = imagenet()
        if spec.labels:
            try:
                self.names = load_labels(spec.labels)
            except LabelsError as exc:
                raise ServingError("INVALID_ARGUMENT", f"backend '{spec.name}': {exc}") from None

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
        """How the model is called: signature, input kind, outputs; raises ServingError."""

    @abc.abstractmethod
    def prepare(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        """The request for one image as it goes on the wire (also what the load engine sends)."""

    def predict(
        self, value: RequestInput, signature: SignatureInfo, *, timeout_s: float | None = None
    ) -> PredictOutcome:
        """Send one image's request and read the answer; raises ServingError.

        ``latency_ms`` is the exchange alone (``send``), as the client sees it; making the
        request and reading the answer (``read``) are ``client_ms``, reported apart."""
        timeout = self._timeout(timeout_s)
        t0 = time.perf_counter()
        request = self.prepared(value, signature)
        t1 = time.perf_counter()
        raw = self.send(request, timeout)
        t2 = time.perf_counter()
        try:
            top5, kind, version = self.read(raw, signature)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ServingError(
                "INVALID_ARGUMENT", f"cannot read the answer of {self.where}: {exc}"
            ) from None
        t3 = time.perf_counter()
        return PredictOutcome(
            top5=top5,
            score_kind=kind,
            model_version=version if version is not None else signature.model_version,
            latency_ms=(t2 - t1) * 1000.0,
            client_ms=((t1 - t0) + (t3 - t2)) * 1000.0,
            bytes_sent=len(request.body),
            preprocess_ms=value.preprocess_ms,
        )

    @abc.abstractmethod
    def send(self, request: PreparedRequest, timeout: float) -> Any:
        """The exchange: send a prepared request, return the raw answer (what ``read`` takes);
        raises ServingError for a failed call or an error answer."""

    @abc.abstractmethod
    def read(
        self, raw: Any, signature: SignatureInfo
    ) -> tuple[tuple[Prediction, ...], ScoreKind, int | None]:
        """The answer's top-5, the kind of its scores and the model version it names (None:
        the signature's); raises ValueError (TypeError, KeyError, IndexError) for an answer that
        cannot be read."""

    def prepared(self, value: RequestInput, signature: SignatureInfo) -> PreparedRequest:
        """``prepare(value, signature)``, made once for the request value a run sends again and
        again (its cold, warm-up and measured requests): the last one is kept, so only its first
        request's ``client_ms`` carries the serialisation — as the load engine, which serialises
        every request before its timed loop."""
        last = self._last_prepared
        if last is not None and last[0] is value and last[1] is signature:
            return last[2]
        request = self.prepare(value, signature)
        self._last_prepared = (value, signature, request)
        return request

    def predict_image(
        self, encoded: bytes, signature: SignatureInfo, *, timeout_s: float | None = None
    ) -> PredictOutcome:
        """Send one encoded image the way the model takes it (the signature's input kind, with
        the default preprocessing for a tensor input); raises ServingError, ImageLoadError."""
        from tfcompare.imaging.preprocess import AUTO, Preprocessing

        kind = signature.input
        preprocessing = None
        if kind is not None and kind.needs_preprocessing:
            preset = self.spec.preprocess or kind.default_preset()
            preprocessing = Preprocessing("raw" if preset == AUTO else preset, self.spec.crop)
        value = kind.make(encoded, preprocessing)
        return self.predict(value, signature, timeout_s=timeout_s)

    @property
    def protocol(self):
        """This client's protocol object (``tfcompare.serving.protocols``)."""
        return self.spec.protocol_info

    @abc.abstractmethod
    def close(self) -> None:
        """Release the channel/connections; the client is unusable afterwards."""

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeout(self, timeout_s: float | None) -> float:
        return float(timeout_s if timeout_s is not None else self.spec.deadline_s)
