"""Add / edit one backend: where it is, which protocol it speaks (every protocol in the registry),
which model and version, how images become the model's input (the input a server's metadata
does not declare, preprocessing, crop, labels),
how to reach it (TLS, headers, Host, metrics), and a live check of what it serves.

Everything a backend spec holds (``tfcompare.serving.backend_spec``) has a field here. The
protocols, their labels, default ports and version kinds come from the registry
(``tfcompare.serving.protocols.PROTOCOLS``) and the preprocessing presets from
``tfcompare.imaging.preprocess``: a protocol or preset added there appears here by itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tfcompare.runner.probe import BackendState
from tfcompare.serving.backend_spec import (
    BackendSpec,
    check_crop,
    check_host,
    check_input,
    check_metrics_source,
    check_preprocess,
    check_version,
)
from tfcompare.targets import parse_header

DEFAULT_PRESET = "default: by the model (auto for float inputs, raw for integer inputs)"
DEFAULT_PRESET_TIP = (
    "Chosen by the model's input: for float inputs 'auto' (each preset is tried on the first "
    "image and the most confident answer's kept), for integer inputs 'raw' (0–255)"
)
LABELS_FILTER = "Class names (*.txt *.json *.labels);;All files (*)"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://")


def protocols() -> dict:
    """The registered protocols, name → protocol object (``label``, ``server``, ``default_port``,
    ``numeric_versions``, ``declared_input``, ``scheme``)."""
    from tfcompare.serving.protocols import PROTOCOLS

    return dict(PROTOCOLS)


def presets() -> list[tuple[str, str]]:
    """(name, "name: what it does") of every preprocessing preset, ``auto`` last."""
    from tfcompare.imaging.preprocess import describe_preset, preset_names

    return [(name, describe_preset(name)) for name in preset_names()]


class _CheckSignal(QObject):
    done = Signal(object)


def _section(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setContentsMargins(0, 6, 0, 0)
    return label


class BackendDialog(QDialog):
    """Edits a BackendSpec; ``spec()`` returns the result after ``exec()`` is accepted."""

    def __init__(
        self,
        parent: QWidget | None = None,
        spec: BackendSpec | None = None,
        taken: Iterable[str] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit backend" if spec else "Add backend")
        self.setMinimumWidth(520)
        self._taken = set(taken) - ({spec.name} if spec else set())
        self.name = QLineEdit(spec.name if spec else "")
        self.name.setPlaceholderText("e.g. gpu, cpu-8")
        self.target = QLineEdit(spec.target if spec else "")
        self.protocol = QComboBox()
        for proto in protocols().values():
            self.protocol.addItem(f"{proto.label} (port {proto.default_port})", proto.name)
            self.protocol.setItemData(self.protocol.count() - 1, f"served by {proto.server}", 3)
        self._protocol_shown = None
        if spec is not None:
            self.protocol.setCurrentIndex(max(self.protocol.findData(spec.protocol), 0))
        self.model = QLineEdit(spec.model or "" if spec else "default")
        self.model.setPlaceholderText("k8s: the model the pods declare (MODEL_NAME)")
        self.signature = QLineEdit(spec.signature or "" if spec else "")
        self.signature.setPlaceholderText("discovered from the model's metadata")
        # the model version: a number (TF Serving) or a label (Open Inference Protocol)
        self.version = QSpinBox()
        self.version.setRange(0, 2_000_000_000)
        self.version.setSpecialValueText("newest")
        self.version_label = QLineEdit()
        self.version_label.setPlaceholderText("newest (or a version label such as 1, v2.0)")
        self.version_box = QStackedWidget()
        self.version_box.addWidget(self.version)
        self.version_box.addWidget(self.version_label)
        self.version_box.setFixedHeight(self.version_label.sizeHint().height())
        if spec is not None and spec.version is not None:
            if isinstance(spec.version, int):
                self.version.setValue(spec.version)
            self.version_label.setText(str(spec.version))
        self.input = QLineEdit(spec.input or "" if spec else "")
        self.input.setToolTip(
            "What the model takes, for servers whose metadata may not say: 'bytes' (the encoded "
            "file), or DTYPE:HxWxC such as float32:224x224x3 (':nchw' for channels first; "
            "NAME: first to name the input)"
        )
        self.preprocess = QComboBox()
        self.preprocess.addItem(DEFAULT_PRESET, None)
        self.preprocess.setItemData(0, DEFAULT_PRESET_TIP, 3)  # its tooltip
        for name, described in presets():
            self.preprocess.addItem(described, name)
        self.preprocess.setToolTip(
            "How an image becomes the tensor a tensor-input model takes (models that take encoded "
            "images are sent the file as it is). Nothing in a model's metadata says which scaling "
            "it wants: the choice is shown wherever results are."
        )
        if spec is not None and spec.preprocess:
            self.preprocess.setCurrentIndex(max(self.preprocess.findData(spec.preprocess), 0))
        self.crop = QDoubleSpinBox()
        self.crop.setRange(0.0, 1.0)
        self.crop.setDecimals(3)
        self.crop.setSingleStep(0.025)
        self.crop.setSpecialValueText("none (the whole image)")
        self.crop.setToolTip(
            "Centre crop before resizing to the model's size: the share of the shorter side kept "
            "(0.875 = the classic 'resize 256, crop 224')"
        )
        self.crop.setValue(spec.crop or 0.0 if spec else 0.0)
        self.labels = QLineEdit(spec.labels or "" if spec else "")
        self.labels.setPlaceholderText("from the model, or ImageNet's for 1000/1001 classes")
        self.labels.setToolTip(
            "Class names for a model that answers class ids or score vectors: one per line, a "
            "JSON list, or a JSON {id: name} map"
        )
        labels_browse = QPushButton("Browse…")
        labels_browse.clicked.connect(self._browse_labels)
        labels_row = QHBoxLayout()
        labels_row.addWidget(self.labels, 1)
        labels_row.addWidget(labels_browse)
        self.tls_ca = QLineEdit(spec.tls_ca or "" if spec else "")
        self.tls_ca.setPlaceholderText("optional CA certificate (PEM) for TLS")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.tls_ca, 1)
        ca_row.addWidget(browse)
        self.header = QLineEdit(": ".join(spec.headers[0]) if spec and spec.headers else "")
        self.header.setPlaceholderText("optional, e.g. Authorization: Bearer TOKEN (never saved)")
        self.host = QLineEdit(spec.host_header or "" if spec else "")
        self.host.setPlaceholderText("optional, e.g. model.default.example.com")
        self.host.setToolTip(
            "The Host header sent with every request: routes it behind an ingress (Istio, "
            "Knative: the InferenceService's URL host)"
        )
        self.metrics = QLineEdit(spec.metrics or "" if spec else "")
        self.metrics.setPlaceholderText("found where the server publishes them, or a URL, or off")
        self.metrics.setToolTip(
            "Where the server's Prometheus metrics are read for server time: empty = found "
            "where the protocol's servers publish them (TF Serving: its REST port at "
            "/monitoring/prometheus/metrics); a URL; or 'off'"
        )
        self.metrics_header = QLineEdit(
            ": ".join(spec.metrics_headers[0]) if spec and spec.metrics_headers else ""
        )
        self.metrics_header.setPlaceholderText(
            "optional, sent to the metrics page only, e.g. Authorization: Bearer T (never saved)"
        )
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setSpecialValueText("as in the settings")  # 0: the run settings' timeout
        self.timeout.setValue(spec.timeout_s or 0 if spec else 0)
        self.discovered = QLabel("Press Check to ask the backend what it serves.")
        self.discovered.setWordWrap(True)
        self.discovered.setTextFormat(Qt.TextFormat.PlainText)  # the server's own words
        self.error = QLabel("")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)

        form = QFormLayout()
        form.addRow(_section("Where"))
        form.addRow("Name", self.name)
        form.addRow("Address", self.target)
        form.addRow("Protocol", self.protocol)
        form.addRow("Model name", self.model)
        form.addRow("Signature", self.signature)
        form.addRow("Model version", self.version_box)
        form.addRow(_section("Images to the model's input"))
        form.addRow("Model input", self.input)
        form.addRow("Preprocessing", self.preprocess)
        form.addRow("Centre crop", self.crop)
        form.addRow("Labels file", labels_row)
        form.addRow(_section("Connection"))
        form.addRow("TLS CA", ca_row)
        form.addRow("Auth header", self.header)
        form.addRow("Host header", self.host)
        form.addRow("Server metrics", self.metrics)
        form.addRow("Metrics header", self.metrics_header)
        form.addRow("Timeout", self.timeout)
        self.check = QPushButton("Check")
        self.check.clicked.connect(self._check)
        check_row = QHBoxLayout()
        check_row.addWidget(self.check)
        check_row.addWidget(self.discovered, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(check_row)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._signal = _CheckSignal(self)
        self._signal.done.connect(self._on_checked)
        for w in (
            self.name,
            self.model,
            self.signature,
            self.header,
            self.metrics,
            self.labels,
            self.host,
            self.metrics_header,
            self.version_label,
            self.input,
        ):
            w.textChanged.connect(self._validate)
        self.target.textChanged.connect(self._on_address_changed)
        self.protocol.currentIndexChanged.connect(self._on_protocol_changed)
        for box in (self.version, self.crop, self.timeout):
            box.valueChanged.connect(self._validate)
        self.preprocess.currentIndexChanged.connect(self._validate)
        self._on_protocol_changed()

    # ------------------------------------------------------------------ protocol
    def _proto(self):
        return protocols()[self.protocol.currentData()]

    def _on_protocol_changed(self, *_args) -> None:
        """The fields the chosen protocol has: a numeric version or a label, a signature (TF
        Serving), its default port in the address hint (and in the address, when it held the
        previous protocol's default port)."""
        proto = self._proto()
        previous = protocols().get(self._protocol_shown) if self._protocol_shown else None
        self._protocol_shown = proto.name
        self.version_box.setCurrentWidget(
            self.version if proto.numeric_versions else self.version_label
        )
        self.signature.setEnabled(proto.numeric_versions)
        self.input.setEnabled(proto.declared_input)
        self.input.setPlaceholderText(
            "from the model's metadata; or bytes, float32:224x224x3[:nchw]"
            if proto.declared_input
            else f"from the model's metadata ({proto.label} always says)"
        )
        self.signature.setToolTip(
            "" if proto.numeric_versions else f"{proto.label} has no signatures"
        )
        self.target.setPlaceholderText(
            f"host:{proto.default_port}  or  k8s://[context/]namespace/service[:port]"
        )
        self.protocol.setToolTip(f"{proto.label}: served by {proto.server}")
        text = self.target.text().strip()
        if previous is not None and previous.default_port != proto.default_port:
            host, sep, port = text.rpartition(":")
            if sep and port == str(previous.default_port) and not text.startswith("k8s://"):
                self.target.setText(f"{host}:{proto.default_port}")
        self._validate()

    def _on_address_changed(self, text: str) -> None:
        """An address typed with a scheme (``v2://host:8001``) chooses its protocol."""
        m = _SCHEME.match(text.strip())
        if m and m.group(1) != "k8s":
            found = next((p for p in protocols().values() if p.scheme == m.group(1)), None)
            if found is not None and found.name != self.protocol.currentData():
                self.protocol.setCurrentIndex(self.protocol.findData(found.name))
        self._validate()

    # ------------------------------------------------------------------ files
    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA certificate", "", "PEM (*.pem *.crt);;All files (*)"
        )
        if path:
            self.tls_ca.setText(path)

    def _browse_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Class names", "", LABELS_FILTER)
        if path:
            self.labels.setText(path)

    # ------------------------------------------------------------------ the spec
    def spec(self) -> BackendSpec:
        """The backend as entered; raises ValueError naming the problem."""
        name = self.name.text().strip()
        if not name:
            raise ValueError("give the backend a name")
        if name in self._taken:
            raise ValueError(f"there is already a backend called {name!r}")
        if "=" in name or "/" in name or "," in name:
            raise ValueError("the name may not contain '=', '/' or ','")
        target = self.target.text().strip()
        if not target:
            raise ValueError(f"enter the backend's address (host:{self._proto().default_port})")
        model = self.model.text().strip()  # empty: "default", or the pods' model for k8s
        text = f"{name}={target}" + (f"/{model}" if model else "")
        contexts = None
        if target.startswith("k8s://"):
            from tfcompare.cluster.kube import context_names

            contexts = context_names()  # k8s://A/B/C: CONTEXT/NAMESPACE/SERVICE when A is one
        parsed = BackendSpec.parse(text, protocol=self.protocol.currentData(), contexts=contexts)
        proto = protocols()[parsed.protocol]
        given: int | str | None
        if proto.numeric_versions:
            given = self.version.value() or None
        else:
            given = self.version_label.text().strip() or None
        try:
            version = check_version(given, proto.name)
        except ValueError as exc:
            raise ValueError(f"model version: {exc}") from None
        typed = self.input.text().strip() if proto.declared_input else ""
        try:
            declared = check_input(typed or None, proto.name)
        except ValueError as exc:
            raise ValueError(f"model input: {exc}") from None
        header = self.header.text().strip()
        metrics_header = self.metrics_header.text().strip()
        try:
            metrics_headers = (parse_header(metrics_header),) if metrics_header else ()
        except ValueError as exc:
            raise ValueError(f"metrics header: {exc}") from None
        return BackendSpec(
            name=parsed.name,
            target=parsed.target,
            protocol=parsed.protocol,
            model=parsed.model,
            signature=(self.signature.text().strip() or None) if proto.numeric_versions else None,
            version=version,
            timeout_s=float(self.timeout.value()) or None,
            tls_ca=self.tls_ca.text().strip() or None,
            headers=(parse_header(header),) if header else (),
            metrics=check_metrics_source(self.metrics.text())
            if self.metrics.text().strip()
            else None,
            preprocess=check_preprocess(self.preprocess.currentData()),
            crop=check_crop(self.crop.value() or None),
            labels=self.labels.text().strip() or None,
            host_header=check_host(self.host.text().strip() or None),
            metrics_headers=metrics_headers,
            input=declared,
        )

    def _validate(self, *_args) -> bool:
        try:
            self.spec()
        except ValueError as exc:
            self.error.setText(str(exc))
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            self.check.setEnabled(False)
            return False
        self.error.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.check.setEnabled(True)
        return True

    # ------------------------------------------------------------------ check
    def _check(self) -> None:
        try:
            spec = self.spec()
        except ValueError:
            return
        self.discovered.setText("checking…")
        self.check.setEnabled(False)

        def work() -> None:
            from tfcompare.runner.probe import probe_backend

            status = probe_backend(spec)
            try:
                self._signal.done.emit(status)
            except RuntimeError:  # the dialog was closed meanwhile
                pass

        threading.Thread(target=work, daemon=True, name="tfcompare-check").start()

    def _on_checked(self, status) -> None:
        self.check.setEnabled(True)
        color = {BackendState.OK: "#1b7f3b", BackendState.WARN: "#a66300"}.get(
            status.state, "#b00020"
        )
        text = status.text + (f"\n{status.detail}" if status.detail else "")
        self.discovered.setText(text)
        self.discovered.setStyleSheet(f"color: {color}")
