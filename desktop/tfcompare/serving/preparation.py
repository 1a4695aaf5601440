"""One backend's way from an encoded image to its request: the input kind its metadata chose and,
for a tensor input, the preprocessing — the user's preset, the default, or ``auto`` (each preset
tried on the first image, the most confident answer kept, and why it was chosen said)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfcompare.imaging.preprocess import AUTO, Preprocessing, presets_for
from tfcompare.serving.answers import PredictOutcome, ServingError, SignatureInfo
from tfcompare.serving.base import BackendClient
from tfcompare.serving.inputs import ImageTensorInput, RequestInput


@dataclass(frozen=True)
class Trial:
    """One preset tried by ``auto``: its top-1 and how confident the model was."""

    preset: str
    label: str
    confidence: float


def confidence(outcome: PredictOutcome) -> float:
    """How sure an answer is: the top-1 probability; for logits, the top-1's share of a softmax
    over the top five (a model answering logits gives no more)."""
    if not outcome.top5:
        return 0.0
    scores = [p.score for p in outcome.top5]
    if not all(math.isfinite(s) for s in scores):
        return 0.0
    if outcome.score_kind == "probability":
        return scores[0]
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    return exps[0] / sum(exps)


class RequestMaker:
    """Makes a backend's request values; ``resolve`` settles ``auto`` before the first one."""

    def __init__(self, client: BackendClient, signature: SignatureInfo) -> None:
        self.client = client
        self.signature = signature
        self.kind = signature.input
        self.spec = client.spec
        self.preprocessing: Preprocessing | None = None
        self.trials: tuple[Trial, ...] = ()
        self.chosen_by = ""  # "as set" / "default" / "auto"
        if isinstance(self.kind, ImageTensorInput):
            preset = self.spec.preprocess or self.kind.default_preset()
            if preset != AUTO:
                if preset not in presets_for(self.kind.layout):
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"backend '{self.spec.name}': preprocess {preset} does not fit its "
                        f"{self.kind.layout.dtype} input (it takes raw 0–255 values)",
                    )
                self.preprocessing = Preprocessing(preset, self.spec.crop)
                self.chosen_by = "as set" if self.spec.preprocess else "default"

    @property
    def resolved(self) -> bool:
        return self.preprocessing is not None or not isinstance(self.kind, ImageTensorInput)

    def resolve(self, sample: bytes, timeout_s: float | None = None) -> None:
        """Settle ``auto``: send ``sample`` once per preset and keep the most confident answer.
        Raises ServingError when no preset got an answer (the last failure), ImageLoadError when
        the sample cannot be decoded."""
        if self.resolved:
            return
        assert isinstance(self.kind, ImageTensorInput)
        trials, failure = [], None
        for preset in presets_for(self.kind.layout):
            value = self.kind.make(sample, Preprocessing(preset, self.spec.crop))
            try:
                outcome = self.client.predict(value, self.signature, timeout_s=timeout_s)
            except ServingError as exc:
                failure = exc
                if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNAUTHENTICATED"):
                    raise
                continue
            label = outcome.top5[0].label if outcome.top5 else "?"
            trials.append(Trial(preset, label, confidence(outcome)))
        if not trials:
            assert failure is not None
            raise failure
        best = max(trials, key=lambda t: t.confidence)
        self.trials = tuple(trials)
        self.preprocessing = Preprocessing(best.preset, self.spec.crop)
        self.chosen_by = "auto"

    def make(self, encoded: bytes) -> RequestInput:
        """The request value for one encoded image (ImageLoadError when it cannot be decoded)."""
        return self.kind.make(encoded, self.preprocessing)

    def describe(self) -> str:
        """``takes encoded bytes`` / ``takes float32 224×224×3 NHWC · preprocess tf (auto: top-1
        tabby 0.81; raw 0.12, unit 0.30, caffe 0.05, torch 0.44)``."""
        text = self.signature.input_text
        if not isinstance(self.kind, ImageTensorInput):
            return text
        if self.preprocessing is None:
            return f"{text} · preprocess auto (chosen on the first image)"
        why = self.chosen_by
        if self.trials:
            best = next(t for t in self.trials if t.preset == self.preprocessing.preset)
            others = ", ".join(
                f"{t.preset} {t.confidence:.2f}" for t in self.trials if t is not best
            )
            why = f"auto: top-1 {best.label} {best.confidence:.2f}" + (
                f"; {others}" if others else ""
            )
        return f"{text} · preprocess {self.preprocessing.describe()} ({why})"
