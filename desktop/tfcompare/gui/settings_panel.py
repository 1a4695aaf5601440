"""Run settings (sizes, formats, qualities, warm-up, repeats, timeout, whether backends are measured
at the same time) and how many requests a run makes."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from tfcompare.datatypes import SUPPORTED_FORMATS, RunSettings


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"2048, 1024 512"`` → (2048, 1024, 512); raises ValueError with a readable message."""
    parts = [p for p in text.replace(",", " ").split() if p]
    sizes = []
    for p in parts:
        if not p.isdigit() or not 8 <= int(p) <= 16384:
            raise ValueError(
                f"sizes must be whole numbers of pixels between 8 and 16384 (not {p!r})"
            )
        sizes.append(int(p))
    return tuple(sorted(set(sizes), reverse=True))


def variants_for(width: int, height: int, settings: RunSettings) -> int:
    """Variants of one image: the original + every box that does not upscale × every format."""
    longest = max(width, height)
    return 1 + sum(1 for b in settings.sizes if b <= longest) * len(settings.formats)


def planned_requests(
    dims: list[tuple[int, int] | None], n_backends: int, settings: RunSettings
) -> int:
    """Requests per run (images of unknown size counted with every box), warm-up and cold included."""
    full = 1 + len(settings.sizes) * len(settings.formats)
    per_variant = max(settings.warmup, 0) + max(settings.repeats, 0)
    variants = sum(variants_for(*d, settings) if d else full for d in dims)
    cold = 1 if settings.warmup == 0 and dims else 0
    return n_backends * (variants * per_variant + cold)


def _row(*items) -> QHBoxLayout:
    """A tight horizontal row of widgets; strings become labels."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for item in items:
        row.addWidget(QLabel(item) if isinstance(item, str) else item)
    row.addStretch(1)
    return row


class SettingsPanel(QWidget):
    """Edits RunSettings; ``changed`` fires on every valid edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sizes = QLineEdit()
        self.sizes.setToolTip(
            "Longest side in pixels of each resized variant (images are never upscaled)"
        )
        self.formats = {f: QCheckBox(f.upper()) for f in SUPPORTED_FORMATS}
        fmt_row = _row(*self.formats.values())
        self.jpeg_quality = QSpinBox()
        self.jpeg_quality.setRange(1, 100)
        self.webp_quality = QSpinBox()
        self.webp_quality.setRange(1, 100)
        q_row = _row("JPEG", self.jpeg_quality, "WebP", self.webp_quality)
        self.warmup = QSpinBox()
        self.warmup.setRange(0, 100)
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 1000)
        r_row = _row("warm-up", self.warmup, "repeats", self.repeats)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0.1, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setToolTip(
            "Default per-request timeout (a backend's own timeout takes precedence)"
        )
        self.at_once = QRadioButton("at the same time")
        self.in_turns = QRadioButton("take turns")
        why = (
            "At the same time: every backend is measured concurrently (a faster run; right for\n"
            "backends on separate machines, GPUs or pods).\n"
            "Take turns: only one backend sends at a time, one image variant after another.\n"
            "Use it when the backends share one machine's cores (e.g. the local demo): measured\n"
            "at once, they would slow each other down and the comparison would be unfair."
        )
        self.mode = QButtonGroup(self)
        for button in (self.at_once, self.in_turns):
            button.setToolTip(why)
            self.mode.addButton(button)
        c_row = _row(self.at_once, self.in_turns)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setObjectName("requestPreview")
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Sizes (px)", self.sizes)
        form.addRow("Formats", fmt_row)
        form.addRow("Quality", q_row)
        form.addRow("Requests", r_row)
        form.addRow("Timeout", self.timeout)
        form.addRow("Backends", c_row)
        form.labelForField(c_row).setToolTip(why)
        form.addRow(self.error)
        form.addRow(self.preview)
        self.set_settings(RunSettings())
        self.sizes.textChanged.connect(self._on_edited)
        for w in (*self.formats.values(),):
            w.toggled.connect(self._on_edited)
        for w in (self.jpeg_quality, self.webp_quality, self.warmup, self.repeats):
            w.valueChanged.connect(self._on_edited)
        self.timeout.valueChanged.connect(self._on_edited)
        self.at_once.toggled.connect(self._on_edited)

    def set_settings(self, s: RunSettings) -> None:
        self.blockSignals(True)
        self.sizes.setText(", ".join(str(x) for x in s.sizes))
        for f, box in self.formats.items():
            box.setChecked(f in s.formats)
        self.jpeg_quality.setValue(s.jpeg_quality)
        self.webp_quality.setValue(s.webp_quality)
        self.warmup.setValue(s.warmup)
        self.repeats.setValue(s.repeats)
        self.timeout.setValue(s.timeout_s)
        (self.at_once if s.concurrent else self.in_turns).setChecked(True)
        self.blockSignals(False)
        self._on_edited()

    def settings(self) -> RunSettings:
        """Current settings; raises ValueError when the entries are not usable."""
        sizes = parse_sizes(self.sizes.text())
        formats = tuple(f for f, box in self.formats.items() if box.isChecked())
        if sizes and not formats:
            raise ValueError("choose at least one format for the resized variants")
        return RunSettings(
            sizes=sizes,
            formats=formats,
            jpeg_quality=self.jpeg_quality.value(),
            webp_quality=self.webp_quality.value(),
            warmup=self.warmup.value(),
            repeats=self.repeats.value(),
            timeout_s=float(self.timeout.value()),
            concurrent=self.at_once.isChecked(),
        )

    def _on_edited(self) -> None:
        try:
            self.settings()
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.error.hide()
        self.changed.emit()

    def update_preview(self, dims: list[tuple[int, int] | None], n_backends: int) -> None:
        try:
            s = self.settings()
        except ValueError:
            self.preview.setText("")
            return
        n = planned_requests(dims, n_backends, s)
        per = max(s.warmup, 0) + s.repeats
        full = 1 + len(s.sizes) * len(s.formats)
        self.preview.setText(
            f"<b>{n:,} requests</b>: {len(dims)} image{'s' if len(dims) != 1 else ''} × up to {full} variants"
            f" × {n_backends} backend{'s' if n_backends != 1 else ''} × {per} "
            f"({s.warmup} warm-up + {s.repeats} measured)"
        )
