""" "Add from cluster…": pick a kubeconfig context and namespace, see the model servers there (TF
Serving, Triton, MLServer services, KServe InferenceServices) with their kind, protocol, pod
readiness and CPU/GPU/memory limits, tick the ones to compare.

Every cluster call runs in a worker thread and answers through a queued Qt signal; each request
carries a generation number so an answer for an older context/namespace is dropped, never drawn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tfcompare.cluster.servers import protocol_choices
from tfcompare.serving.backend_spec import BackendSpec

COLUMNS = (
    "",
    "Service",
    "Namespace",
    "Kind",
    "Protocol",
    "Ready",
    "GPU",
    "CPU",
    "Memory",
    "Model",
    "Target",
)
READY_COLUMN = COLUMNS.index("Ready")
PROTOCOL_COLUMN = COLUMNS.index("Protocol")


class _Answers(QObject):
    done = Signal(
        int, str, object
    )  # generation, what ("contexts"/"namespaces"/"services"), result or error


class ClusterDialog(QDialog):
    """Choose model servers from a Kubernetes cluster; read ``selected_backends()`` after
    ``exec()`` returns Accepted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add backends from a Kubernetes cluster")
        self.resize(900, 460)
        self._generation = 0
        self._services: list[Any] = []  # tfcompare.cluster.ServiceInfo, in table order
        self._notes: list[str] = []  # what discovery could not look at
        self._pending_namespace = "default"
        self._answers = _Answers(self)
        self._answers.done.connect(self._on_answer)

        self.context_box = QComboBox()
        self.namespace_box = QComboBox()
        self.namespace_box.setEditable(True)
        self.namespace_box.setMinimumContentsLength(16)
        self.all_namespaces = QCheckBox("All namespaces")
        self.protocol_box = QComboBox()
        self.protocol_box.addItem("Each server's own", None)
        for name, label in protocol_choices():
            self.protocol_box.addItem(label, name)
        self.protocol_box.setToolTip(
            "The protocol of the backends added: each server's own (the first it speaks), or one "
            "for all the servers that speak it"
        )
        self.refresh_button = QPushButton("Refresh")

        where = QHBoxLayout()
        where.addWidget(self.namespace_box, 1)
        where.addWidget(self.all_namespaces)
        where.addWidget(self.refresh_button)
        form = QFormLayout()
        form.addRow("Context:", self.context_box)
        form.addRow("Namespace:", where)
        form.addRow("Protocol:", self.protocol_box)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status_label = QLabel("Reading the kubeconfig…")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add selected")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

        self.context_box.activated.connect(self._on_context_changed)
        self.namespace_box.activated.connect(lambda _i: self.refresh())
        typed = self.namespace_box.lineEdit()
        assert typed is not None  # the box is editable
        typed.returnPressed.connect(self.refresh)
        self.all_namespaces.toggled.connect(self._on_all_namespaces_changed)
        self.refresh_button.clicked.connect(self.refresh)
        self.protocol_box.currentIndexChanged.connect(lambda _i: self._fill_targets())
        self.table.itemChanged.connect(lambda _item: self._update_ok())
        self._update_ok()
        self._submit("contexts", _load_contexts)

    # ------------------------------------------------------------------ public

    @property
    def protocol(self) -> str | None:
        """The protocol chosen for every server that speaks it; None: each server's own."""
        data = self.protocol_box.currentData()
        return None if data is None else str(data)

    def protocol_of(self, service: Any) -> str:
        chosen = self.protocol
        return chosen if chosen is not None and service.speaks(chosen) else service.protocol

    def selected_backends(self) -> list[BackendSpec]:
        """One BackendSpec per ticked service, with a ``k8s://CONTEXT/NS/SVC:PORT`` target."""
        chosen = [s for row, s in enumerate(self._services) if self._ticked(row) and s.protocols]
        names = [s.name for s in chosen]
        specs = []
        for s in chosen:
            name = s.name if names.count(s.name) == 1 else f"{s.namespace}/{s.name}"
            specs.append(s.backend_spec(self.protocol_of(s), name=name))
        return specs

    def refresh(self) -> None:
        context = self.context_box.currentData()
        if context is None:
            return
        namespace = self.namespace_box.currentText().strip() or None
        everywhere = self.all_namespaces.isChecked()
        where = "all namespaces" if everywhere else f"namespace {namespace or '(default)'}"
        self._set_status(f"Looking for model servers in {where}…")
        self.table.setRowCount(0)
        self._services = []
        self._update_ok()

        def work() -> Any:
            from tfcompare.cluster.discovery import discover

            return discover(context, namespace, all_namespaces=everywhere)

        self._submit("services", work)

    # ------------------------------------------------------------------ worker plumbing

    def _submit(self, what: str, fn: Callable[[], Any]) -> None:
        self._generation += 1
        generation = self._generation
        self.refresh_button.setEnabled(False)

        def run() -> None:
            try:
                result: Any = fn()
            except Exception as exc:  # ClusterError or anything unexpected: shown, never raised
                result = exc
            self._answers.done.emit(generation, what, result)

        threading.Thread(target=run, name=f"tfcompare-cluster-{what}", daemon=True).start()

    def _on_answer(self, generation: int, what: str, result: object) -> None:
        if generation != self._generation:
            return  # an answer for an older choice of context/namespace
        self.refresh_button.setEnabled(True)
        if isinstance(result, Exception):
            self._set_status(_message(result), error=True)
            if what == "namespaces":  # e.g. no right to list namespaces: typing one still works
                self.refresh()
            return
        if what == "contexts":
            self._on_contexts_loaded(result)
        elif what == "namespaces":
            self._on_namespaces_loaded(result)
        else:
            self._on_services_loaded(result)

    # ------------------------------------------------------------------ answers

    def _on_contexts_loaded(self, contexts: Any) -> None:
        self.context_box.clear()
        for c in contexts:
            self.context_box.addItem(f"{c.name}  ({c.cluster})" if c.cluster else c.name, c.name)
            self.context_box.setItemData(
                self.context_box.count() - 1, c.namespace, Qt.ItemDataRole.UserRole + 1
            )
            if c.current:
                self.context_box.setCurrentIndex(self.context_box.count() - 1)
        if not contexts:
            self._set_status("The kubeconfig has no contexts.", error=True)
            return
        self._on_context_changed(self.context_box.currentIndex())

    def _on_context_changed(self, index: int) -> None:
        default_ns = self.context_box.itemData(index, Qt.ItemDataRole.UserRole + 1) or "default"
        self.namespace_box.clear()
        self.namespace_box.addItem(default_ns)
        context = self.context_box.itemData(index)

        def work() -> Any:
            from tfcompare.cluster import list_namespaces

            return list_namespaces(context)

        self._pending_namespace = default_ns
        self._set_status("Listing namespaces…")
        self._submit("namespaces", work)

    def _on_namespaces_loaded(self, namespaces: Any) -> None:
        keep = self._pending_namespace
        self.namespace_box.clear()
        self.namespace_box.addItems(list(namespaces) or [keep])
        index = self.namespace_box.findText(keep)
        if index >= 0:
            self.namespace_box.setCurrentIndex(index)
        else:
            self.namespace_box.setEditText(keep)
        self.refresh()

    def _on_all_namespaces_changed(self, checked: bool) -> None:
        self.namespace_box.setEnabled(not checked)
        self.refresh()

    def _on_services_loaded(self, found: Any) -> None:
        self._services = list(found.services)
        self._notes = list(found.notes)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._services))
        for row, s in enumerate(self._services):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            tick.setCheckState(Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, tick)
            cells = (
                s.name,
                s.namespace,
                s.kind,
                s.protocol_labels,
                s.readiness,
                s.limits.gpu or "–",
                s.limits.cpu or "–",
                s.limits.memory or "–",
                s.model or "?",
                "",
            )
            items = {col: QTableWidgetItem(text) for col, text in enumerate(cells, start=1)}
            for col, item in items.items():
                self.table.setItem(row, col, item)
            if s.ready == 0:
                for item in items.values():
                    item.setForeground(QColor("#b45309"))
                items[READY_COLUMN].setToolTip("no ready pod: forwarding waits until one is ready")
            if not s.protocols:
                tick.setFlags(Qt.ItemFlag.NoItemFlags)
                tick.setToolTip("no protocol of tfcompare reaches this server")
            pods = ", ".join(s.pods) or "no pods"
            tip = f"pods: {pods}\nrequests: {s.requests.text}"
            items[1].setToolTip(tip + (f"\n{s.note}" if s.note else ""))
            items[PROTOCOL_COLUMN].setToolTip(
                "the first is used unless Protocol above chooses another it speaks"
            )
        self.table.blockSignals(False)
        self._fill_targets()
        context = self.context_box.currentData()
        where = (
            "all namespaces"
            if self.all_namespaces.isChecked()
            else f"namespace {self.namespace_box.currentText()}"
        )
        notes = "".join(f" Note: {n}" for n in self._notes)
        if self._services:
            self._set_status(
                f"{len(self._services)} model server(s) in {where} of {context}. "
                f"Tick the ones to compare.{notes}"
            )
        else:
            self._set_status(
                f"No model servers in {where} of {context} (looked for TF Serving, Triton and "
                "MLServer pods, their labels and ports — 8500/8501, 8000/8001, 8080/8081 — and "
                f"KServe InferenceServices).{notes}"
            )
        self._update_ok()

    # ------------------------------------------------------------------ helpers

    def _fill_targets(self) -> None:
        self.table.blockSignals(True)
        for row, s in enumerate(self._services):
            item = self.table.item(row, len(COLUMNS) - 1)
            if item is not None:
                item.setText(s.backend_target(self.protocol_of(s)) if s.protocols else "–")
        self.table.blockSignals(False)

    def _ticked(self, row: int) -> bool:
        item = self.table.item(row, 0)
        return item is not None and item.checkState() == Qt.CheckState.Checked

    def _update_ok(self) -> None:
        any_ticked = any(self._ticked(row) for row in range(self.table.rowCount()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(any_ticked)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b91c1c;" if error else "")


def _load_contexts() -> Any:
    from tfcompare.cluster import list_contexts

    return list_contexts()


def _message(exc: Exception) -> str:
    from tfcompare.cluster import ClusterError

    return str(exc) if isinstance(exc, ClusterError) else f"{type(exc).__name__}: {exc}"
