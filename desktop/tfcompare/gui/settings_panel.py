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

from tfcompare.runner.request_plan import requests_per_variant, variants_per_image
from tfcompare.settings import (
    QUALITY_RANGE,
    REPEATS_RANGE,
    SUPPORTED_FORMATS,
    TIMEOUT_RANGE,
    WARMUP_RANGE,
    RunSettings,
    SettingsError,
    parse_sizes,
)


def _row(*items) -> QHBoxLayout:
    """A tight horizontal row of widgets; strings become labels."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for item in items:
        row.addWidget(QLabel(item) if isinstance(item, str) else item)
    row.addStretch(1)
    return row


class SettingsPanel(QWidget):
    """Edits RunSettings: ``edited`` carries the new RunSettings, or the SettingsError saying what
    is wrong (shown under the fields, the fields concerned outlined)."""

    edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sizes = QLineEdit()
        self.sizes.setToolTip(
            "Longest side in pixels of each resized variant (images are never upscaled)"
        )
        self.formats = {f: QCheckBox(f.upper()) for f in SUPPORTED_FORMATS}
        fmt_row = _row(*self.formats.values())
        self._format_row = QWidget()
        self._format_row.setLayout(fmt_row)
        self.jpeg_quality = QSpinBox()
        self.jpeg_quality.setRange(*QUALITY_RANGE)
        self.webp_quality = QSpinBox()
        self.webp_quality.setRange(*QUALITY_RANGE)
        q_row = _row("JPEG", self.jpeg_quality, "WebP", self.webp_quality)
        self.warmup = QSpinBox()
        self.warmup.setRange(*WARMUP_RANGE)
        self.repeats = QSpinBox()
        self.repeats.setRange(*REPEATS_RANGE)
        r_row = _row("warm-up", self.warmup, "repeats", self.repeats)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(*TIMEOUT_RANGE)
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
        # it wraps to two lines in the window's usual width: room for both, never clipped
        self.preview.setMinimumHeight(self.preview.fontMetrics().lineSpacing() * 2 + 4)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Sizes (px)", self.sizes)
        form.addRow("Formats", self._format_row)
        form.addRow("Quality", q_row)
        form.addRow("Requests", r_row)
        form.addRow("Timeout", self.timeout)
        form.addRow("Backends", c_row)
        form.labelForField(c_row).setToolTip(why)
        form.addRow(self.error)
        form.addRow(self.preview)
        self.set_settings(RunSettings())
        self.sizes.textChanged.connect(self._on_edited)
        for box in self.formats.values():
            box.toggled.connect(self._on_edited)
        for spin in (self.jpeg_quality, self.webp_quality, self.warmup, self.repeats):
            spin.valueChanged.connect(self._on_edited)
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
        """Current settings; raises SettingsError (a ValueError) when the entries are not usable."""
        return RunSettings(
            sizes=parse_sizes(self.sizes.text()),
            formats=tuple(f for f, box in self.formats.items() if box.isChecked()),
            jpeg_quality=self.jpeg_quality.value(),
            webp_quality=self.webp_quality.value(),
            warmup=self.warmup.value(),
            repeats=self.repeats.value(),
            timeout_s=float(self.timeout.value()),
            concurrent=self.at_once.isChecked(),
        )

    def _fields(self) -> dict[str, QWidget]:
        return {
            "sizes": self.sizes,
            "formats": self._format_row,
            "jpeg_quality": self.jpeg_quality,
            "webp_quality": self.webp_quality,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "timeout_s": self.timeout,
        }

    def _on_edited(self) -> None:
        try:
            result: RunSettings | SettingsError = self.settings()
        except SettingsError as exc:
            result = exc
        problems = result if isinstance(result, SettingsError) else None
        bad = {f for f, _, _ in problems.problems} if problems is not None else set()
        for name, widget in self._fields().items():
            widget.setProperty("invalid", name in bad)
            widget.setStyleSheet("border: 1px solid #b00020;" if name in bad else "")
        self.error.setText(
            "\n".join(problems.messages(lambda _f, subject: subject[0].upper() + subject[1:]))
            if problems is not None and bad
            else ""
        )
        self.error.setVisible(bool(bad))
        self.edited.emit(result)

    def set_preview(self, n_requests: int, n_images: int, n_backends: int) -> None:
        """The request count of the next run (``runner.plan``), with how it comes about."""
        try:
            s = self.settings()
        except SettingsError:
            self.preview.setText("")
            return
        self.preview.setText(
            f"<b>{n_requests:,} requests</b>: {n_images} image{'s' if n_images != 1 else ''} × "
            f"up to {variants_per_image(s)} variants × {n_backends} "
            f"backend{'s' if n_backends != 1 else ''} × {requests_per_variant(s)} "
            f"({s.warmup} warm-up + {s.repeats} measured)"
        )
