"""Add / edit one backend: where it is, how to talk to it, and a live check of what it serves."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal
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
    QVBoxLayout,
    QWidget,
)

from tfcompare.runner.probe import BackendState
from tfcompare.serving.backend_spec import BackendSpec, check_metrics_source
from tfcompare.targets import parse_header


class _CheckSignal(QObject):
    done = Signal(object)


class BackendDialog(QDialog):
    """Edits a BackendSpec; ``spec()`` returns the result after ``exec()`` is accepted."""

    def __init__(
        self,
        parent: QWidget | None = None,
        spec: BackendSpec | None = None,
        taken: set[str] = frozenset(),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit backend" if spec else "Add backend")
        self.setMinimumWidth(460)
        self._taken = set(taken) - ({spec.name} if spec else set())
        self.name = QLineEdit(spec.name if spec else "")
        self.name.setPlaceholderText("e.g. gpu, cpu-8")
        self.target = QLineEdit(spec.target if spec else "")
        self.target.setPlaceholderText("host:port  or  k8s://[context/]namespace/service[:port]")
        self.protocol = QComboBox()
        self.protocol.addItem("gRPC (port 8500)", "grpc")
        self.protocol.addItem("REST (port 8501)", "rest")
        self.protocol.setCurrentIndex(1 if spec and spec.protocol == "rest" else 0)
        self.model = QLineEdit(spec.model or "" if spec else "default")
        self.model.setPlaceholderText("k8s: the model the pods declare (MODEL_NAME)")
        self.signature = QLineEdit(spec.signature or "" if spec else "")
        self.signature.setPlaceholderText("discovered from the model's metadata")
        self.version = QSpinBox()
        self.version.setRange(0, 1_000_000_000)
        self.version.setSpecialValueText("newest")
        self.version.setValue(spec.version or 0 if spec else 0)
        self.tls_ca = QLineEdit(spec.tls_ca or "" if spec else "")
        self.tls_ca.setPlaceholderText("optional CA certificate (PEM) for TLS")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.tls_ca, 1)
        ca_row.addWidget(browse)
        self.header = QLineEdit(": ".join(spec.headers[0]) if spec and spec.headers else "")
        self.header.setPlaceholderText("optional, e.g. Authorization: Bearer TOKEN (never saved)")
        self.metrics = QLineEdit(spec.metrics or "" if spec else "")
        self.metrics.setPlaceholderText("found on the REST port (8501), or a URL, or off")
        self.metrics.setToolTip(
            "Where TF Serving's Prometheus metrics are read for server time: empty = found on the "
            "REST port (beside gRPC 8500, or the service's http port for k8s://) at "
            "/monitoring/prometheus/metrics; a URL; or 'off'"
        )
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setSpecialValueText("as in the settings")  # 0: the run settings' timeout
        self.timeout.setValue(spec.timeout_s or 0 if spec else 0)
        self.discovered = QLabel("Press Check to ask the backend what it serves.")
        self.discovered.setWordWrap(True)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Address", self.target)
        form.addRow("Protocol", self.protocol)
        form.addRow("Model name", self.model)
        form.addRow("Signature", self.signature)
        form.addRow("Model version", self.version)
        form.addRow("TLS CA", ca_row)
        form.addRow("Auth header", self.header)
        form.addRow("Server metrics", self.metrics)
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
        for w in (self.name, self.target, self.model, self.signature, self.header, self.metrics):
            w.textChanged.connect(self._validate)
        self._validate()

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA certificate", "", "PEM (*.pem *.crt);;All files (*)"
        )
        if path:
            self.tls_ca.setText(path)

    def spec(self) -> BackendSpec:
        """The backend as entered; raises ValueError naming the problem."""
        name = self.name.text().strip()
        if not name:
            raise ValueError("give the backend a name")
        if name in self._taken:
            raise ValueError(f"there is already a backend called {name!r}")
        if "=" in name or "/" in name:
            raise ValueError("the name may not contain '=' or '/'")
        target = self.target.text().strip()
        if not target:
            raise ValueError("enter the backend's address (host:port)")
        model = self.model.text().strip()  # empty: "default", or the pods' model for k8s
        text = f"{name}={target}" + (f"/{model}" if model else "")
        contexts = None
        if target.startswith("k8s://"):
            from tfcompare.cluster.kube import context_names

            contexts = context_names()  # k8s://A/B/C: CONTEXT/NAMESPACE/SERVICE when A is one
        parsed = BackendSpec.parse(text, contexts=contexts)
        return BackendSpec(
            name=parsed.name,
            target=parsed.target,
            protocol=self.protocol.currentData(),
            model=parsed.model,
            signature=self.signature.text().strip() or None,
            version=self.version.value() or None,
            timeout_s=float(self.timeout.value()) or None,
            tls_ca=self.tls_ca.text().strip() or None,
            headers=(parse_header(self.header.text()),) if self.header.text().strip() else (),
            metrics=check_metrics_source(self.metrics.text())
            if self.metrics.text().strip()
            else None,
        )

    def _validate(self) -> bool:
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
