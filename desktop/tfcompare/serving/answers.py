"""What a backend answers: model status, the signature used, predictions, and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ScoreKind = Literal["probability", "logit", "unknown"]


@dataclass(frozen=True)
class ModelStatus:
    """Answer of GetModelStatus / GET /v1/models/NAME."""

    available: bool
    # (version, state name) e.g. (1, "AVAILABLE"); OIP versions may be labels ("v2")
    versions: tuple[tuple[int | str, str], ...]
    message: str = ""  # error text when not reachable / not found

    @property
    def serving_version(self) -> int | str | None:
        """The newest AVAILABLE version (a numbered one when there are numbers)."""
        ok = [v for v, s in self.versions if s == "AVAILABLE"]
        numbers = [v for v in ok if isinstance(v, int)]
        return max(numbers) if numbers else (ok[0] if ok else None)


@dataclass(frozen=True)
class SignatureInfo:
    """What a model's metadata says about how it is called: the signature (TF Serving; empty for
    protocols without signatures), the input key and its dtype (a numpy name), the
    outputs, and how a variant goes on the wire (``input``: a ``tfcompare.serving.inputs``
    input kind, chosen from the metadata)."""

    signature_name: str
    input_key: str
    input_dtype: str  # numpy-style: "string" (encoded bytes), "float32", "uint8" …
    output_keys: tuple[str, ...]
    model_version: int | str | None = None
    input: Any = field(default=None, compare=False)  # tfcompare.serving.inputs.InputKind
    # class count read off the outputs' shapes (a score vector's static length), when known
    num_classes: int | None = None

    @property
    def input_text(self) -> str:
        """``takes encoded bytes`` / ``takes float32 224×224×3 NHWC``."""
        return self.input.describe() if self.input is not None else f"takes {self.input_dtype}"


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class PredictOutcome:
    """One successful Predict call, as the serving client returns it."""

    top5: tuple[Prediction, ...]
    score_kind: ScoreKind
    model_version: int | str | None  # OIP versions may be labels
    latency_ms: float  # wall time of the RPC as the client sees it
    client_ms: float  # client-side request serialisation + response parsing
    bytes_sent: int  # serialized request size
    pod: str | None = None  # Kubernetes pod that answered, when known
    preprocess_ms: float = 0.0  # making the request's tensor on the client (decode, resize…)


class ServingError(Exception):
    """A backend call failed. ``code`` is the gRPC status name (``UNAVAILABLE``, ``NOT_FOUND``,
    ``DEADLINE_EXCEEDED``, ``INVALID_ARGUMENT`` ...) or an HTTP-derived equivalent."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
