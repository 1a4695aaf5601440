"""The backends list: colour, status light, name, address and what the backend says about itself."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tfcompare.datatypes import BackendSpec
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.overlay import EmptyOverlay
from tfcompare.gui.workers import BackendStatus

LIGHTS = {"ok": "#2e9d4a", "warn": "#e0a000", "error": "#d0312d", "checking": "#a0a0a0"}


def _icon(color: str, light: str) -> QIcon:
    """Backend colour swatch + status light, side by side."""
    pm = QPixmap(34, 16)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    p.drawRoundedRect(0, 2, 12, 12, 2, 2)
    p.setBrush(QColor(light))
    p.setPen(QColor("#555555"))
    p.drawEllipse(19, 2, 12, 12)
    p.end()
    return QIcon(pm)


class BackendsPanel(QWidget):
    """Lists the backends; the window owns the specs, this view shows them and their status."""

    add_requested = Signal()
    edit_requested = Signal(str)
    remove_requested = Signal(str)
    cluster_requested = Signal()

    def __init__(
        self, colors: BackendColors, parent: QWidget | None = None, cluster: bool = True
    ) -> None:
        super().__init__(parent)
        self.colors = colors
        self.specs: list[BackendSpec] = []
        self.status: dict[str, BackendStatus] = {}
        self.run_note: dict[str, tuple[str, str]] = {}  # name → (state, text) from the current run
        self.list = QListWidget()
        self.list.setIconSize(QSize(34, 16))
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setAcceptDrops(False)
        self.list.itemDoubleClicked.connect(
            lambda it: self.edit_requested.emit(it.data(Qt.ItemDataRole.UserRole))
        )
        self.overlay = EmptyOverlay(
            self.list.viewport(), "Add a backend: a TF Serving address\n(host:port, gRPC or REST)"
        )
        add = QPushButton("Add…")
        add.setToolTip("Add a backend (Ctrl+B)")
        add.clicked.connect(self.add_requested)
        self.edit = QPushButton("Edit…")
        self.edit.clicked.connect(lambda: self._emit_selected(self.edit_requested))
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(lambda: self._emit_selected(self.remove_requested))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (add, self.edit, self.remove):
            buttons.addWidget(b)
        self.cluster = QPushButton("From cluster…")
        self.cluster.setToolTip("Discover TF Serving services in a Kubernetes cluster")
        self.cluster.clicked.connect(self.cluster_requested)
        self.cluster.setVisible(cluster)
        buttons.addWidget(self.cluster)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.list.currentRowChanged.connect(self._update_buttons)
        self._update_buttons()

    def _emit_selected(self, signal) -> None:
        item = self.list.currentItem()
        if item is not None:
            signal.emit(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        self.edit.setEnabled(has)
        self.remove.setEnabled(has)

    def set_specs(self, specs: list[BackendSpec]) -> None:
        self.specs = list(specs)
        names = {s.name for s in specs}
        self.status = {n: s for n, s in self.status.items() if n in names}
        self.colors.assign([s.name for s in specs])
        current = (
            self.list.currentItem().data(Qt.ItemDataRole.UserRole)
            if self.list.currentItem()
            else None
        )
        self.list.clear()
        for spec in self.specs:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, spec.name)
            self.list.addItem(item)
            self._refresh(spec.name)
            if spec.name == current:
                self.list.setCurrentItem(item)
        self.overlay.setVisible(not self.specs)
        self._update_buttons()

    def spec(self, name: str) -> BackendSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def set_status(self, status: BackendStatus) -> None:
        spec = self.spec(status.spec.name)
        if spec is None or spec != status.spec:
            return  # an answer about a backend that has since been edited or removed
        self.status[spec.name] = status
        self._refresh(spec.name)

    def set_run_note(self, name: str, state: str | None, text: str = "") -> None:
        """What the current run found (overrides the background check while it matters)."""
        if state is None:
            self.run_note.pop(name, None)
        else:
            self.run_note[name] = (state, text)
        self._refresh(name)

    def clear_run_notes(self) -> None:
        names = list(self.run_note)
        self.run_note.clear()
        for n in names:
            self._refresh(n)

    def state_of(self, name: str) -> str:
        if name in self.run_note:
            return self.run_note[name][0]
        st = self.status.get(name)
        return st.state if st else "checking"

    def _refresh(self, name: str) -> None:
        spec = self.spec(name)
        item = next(
            (
                self.list.item(i)
                for i in range(self.list.count())
                if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name
            ),
            None,
        )
        if spec is None or item is None:
            return
        st = self.status.get(name)
        state, text = (st.state, st.text) if st else ("checking", "checking…")
        if name in self.run_note:
            state, text = self.run_note[name]
        proto = "REST" if spec.protocol == "rest" else "gRPC"
        item.setIcon(_icon(self.colors.color(name), LIGHTS.get(state, LIGHTS["checking"])))
        item.setText(f"{name} — {spec.target} ({proto}, {spec.model})\n{text}")
        tip = [
            f"{name}: {spec.target} over {proto}",
            f"model {spec.model}"
            + (f", signature {spec.signature}" if spec.signature else ", signature discovered"),
        ]
        if st and st.detail:
            tip.append(st.detail)
        tip.append(text)
        item.setToolTip("\n".join(tip))
        item.setForeground(QColor("#b00020") if state == "error" else self.palette().text().color())
