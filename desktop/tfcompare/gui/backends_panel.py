"""The backends list: colour, status light, name, address and what the backend says about itself.

Each entry is two lines (name · protocol · address, then status · what the model takes · model),
each elided to the list's width with the full text in the tooltip: the list never needs a
horizontal scrollbar."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from tfcompare.bidi import without_bidi_controls
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.overlay import EmptyOverlay
from tfcompare.gui.user_text import message, shown, tooltip
from tfcompare.runner.probe import BackendState
from tfcompare.serving.backend_spec import BackendSpec

LIGHTS = {
    BackendState.OK: "#2e9d4a",
    BackendState.WARN: "#e0a000",
    BackendState.ERROR: "#d0312d",
    BackendState.CHECKING: "#a0a0a0",
    BackendState.OFFLINE: "#c8c8c8",
}
_TROUBLE = (BackendState.ERROR, BackendState.OFFLINE)
# what an entry shows: (state, one line, tooltip detail[, what the model takes as the last run
# found it])
BackendRow = tuple[BackendState, str, str] | tuple[BackendState, str, str, str]
_UNKNOWN: BackendRow = (BackendState.CHECKING, "checking…", "")  # before any answer


def readable_status(state: BackendState, text: str, target: str) -> str:
    """The status as the entry's second line shows it: for a problem, the reason first and
    without the address line 1 already shows ("UNAVAILABLE: backend h:p is not reachable
    (connection refused)" → "not reachable (connection refused) · UNAVAILABLE")."""
    if state not in _TROUBLE:
        return text
    text = text.replace(f"backend {target} is ", "").replace(f"backend {target} ", "")
    if (
        state is BackendState.OFFLINE
    ):  # "not connected (from the saved session): " + what the check said
        return text.partition(": ")[0]  # the check's words are in the tooltip
    code, sep, reason = text.partition(": ")
    if sep and code.replace("_", "").isalpha() and code.isupper():
        text = f"{reason} · {code}"
    return text


def status_line(state: BackendState, text: str, target: str, model: str, takes: str = "") -> str:
    """An entry's second line, most telling first (it is cut at the list's width; the tooltip
    has it all): for a problem, the reason, then the model; for a backend that answers, its
    state and version, what its model takes (the run's own account when there is one: input
    and preprocessing), the path floor and metrics, then the signature and the model."""
    shown = readable_status(state, text, target)
    if state != BackendState.OK:
        return f"{shown} · {model}"
    parts = [p for p in text.split(" · ") if p]
    probed = [p for p in parts if p.startswith("takes ")]
    first = [p for p in parts if p == "AVAILABLE" or p.startswith("version ")]
    rest = [p for p in parts if p not in first and p not in probed]
    takes = takes or (probed[0] if probed else "")
    return " · ".join([*first, *([takes] if takes else []), *rest, model])


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


NAME_ROLE = Qt.ItemDataRole.UserRole
HEAD_ROLE = Qt.ItemDataRole.UserRole + 1  # line 1 after the name: " · gRPC · host:port"


def elide_entry(
    name: str, head: str, detail: str, width: int, bold: QFontMetrics, plain: QFontMetrics
) -> tuple[str, str, str]:
    """The (name, head, detail) texts that fit ``width`` pixels: the name is kept whole when it
    can be (else shortened in the middle), then the address is elided, and the detail line is
    elided on its own; each isolated (see ``user_text``)."""
    name_w = bold.horizontalAdvance(name)
    line2 = shown(plain.elidedText(detail, Qt.TextElideMode.ElideRight, width))
    if name_w >= width:
        return (shown(bold.elidedText(name, Qt.TextElideMode.ElideMiddle, width)), "", line2)
    return (
        shown(name),
        shown(plain.elidedText(head, Qt.TextElideMode.ElideRight, width - name_w)),
        line2,
    )


class EntryDelegate(QStyledItemDelegate):
    """Paints an entry's two lines elided to the view's width (no horizontal scrolling)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.painted: dict[int, tuple[str, str, str, int]] = {}  # row → what was drawn (tests)

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        bold = QFont(option.font)
        bold.setBold(True)
        return bold, option.font

    def sizeHint(  # noqa: N802
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        line = QFontMetrics(option.font).height()
        # width 0: the view lays entries out at its own width instead of scrolling sideways
        return QSize(0, max(2 * line + 8, 36))

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is None:
            return
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        icon = style.subElementRect(QStyle.SubElement.SE_ItemViewItemDecoration, opt, widget)
        rect = QRect(opt.rect).adjusted(icon.right() - opt.rect.left() + 6, 3, -4, -3)
        name = message(index.data(NAME_ROLE) or "")
        head = message(index.data(HEAD_ROLE) or "")
        full = str(index.data(Qt.ItemDataRole.DisplayRole) or text)
        detail = message(full.split("\n", 1)[1] if "\n" in full else "")
        bold_font, plain_font = self._fonts(opt)
        bold, plain = QFontMetrics(bold_font), QFontMetrics(plain_font)
        n, h, d = elide_entry(name, head, detail, rect.width(), bold, plain)
        self.painted[index.row()] = (n, h, d, rect.width())
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        group = QPalette.ColorGroup.Normal
        main = opt.palette.color(
            group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        fg = index.data(Qt.ItemDataRole.ForegroundRole)
        second = main if selected else (fg.color() if fg is not None else QColor("#555555"))
        top = QRect(rect.left(), rect.top(), rect.width(), bold.height())
        bottom = QRect(rect.left(), rect.top() + bold.height(), rect.width(), plain.height())
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.save()
        painter.setPen(main)
        painter.setFont(bold_font)
        painter.drawText(top, align, n)
        painter.setFont(plain_font)
        painter.drawText(top.adjusted(bold.horizontalAdvance(n), 0, 0, 0), align, h)
        painter.setPen(second)
        painter.drawText(bottom, align, d)
        painter.restore()


class BackendsPanel(QWidget):
    """Lists the backends and their status (a view of the window controller's backends)."""

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
        self._status: dict[str, BackendRow] = {}  # name → what its entry shows
        self._colors_shown: list[str] = []
        self.list = QListWidget()
        self.list.setIconSize(QSize(34, 16))
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setUniformItemSizes(True)
        self.delegate = EntryDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setAcceptDrops(False)
        self.list.itemDoubleClicked.connect(
            lambda it: self.edit_requested.emit(it.data(Qt.ItemDataRole.UserRole))
        )
        self.overlay = EmptyOverlay(
            self.list.viewport(),
            "Add a backend: a model server's address\n(TF Serving, Triton, KServe, MLServer)",
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

    def show_backends(self, specs: list[BackendSpec], status: Mapping[str, BackendRow]) -> None:
        """Draw these backends with what their entries show (``BackendRow``)."""
        names = [s.name for s in specs]
        colors = [self.colors.color(n) for n in names]
        if colors != self._colors_shown:  # the comparison's order changed: so did the swatches
            self._colors_shown = colors
            self._status = {}
        if specs != self.specs or names != [
            self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
        ]:
            current = self.current_name()
            self.specs = list(specs)
            self.list.clear()
            for spec in self.specs:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, spec.name)
                self.list.addItem(item)
                if spec.name == current:
                    self.list.setCurrentItem(item)
            self._status = {}
        for name in names:
            if self._status.get(name) != status.get(name):
                self._status[name] = status.get(name, _UNKNOWN)
                self._refresh(name)
        self.overlay.setVisible(not self.specs)
        self._update_buttons()

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def spec(self, name: str) -> BackendSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def entry_text(self, name: str) -> str:
        """The two lines shown for a backend (as drawn, before eliding)."""
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                return self.list.item(i).text()
        return ""

    def state_of(self, name: str) -> BackendState:
        return self._status.get(name, _UNKNOWN)[0]

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
        state, text, detail, *more = self._status.get(name, _UNKNOWN)
        takes = more[0] if more else ""
        protocol = spec.protocol_info
        item.setIcon(_icon(self.colors.color(name), LIGHTS[state]))
        head = f" · {protocol.label} · {spec.target}"
        item.setData(HEAD_ROLE, head)
        model = spec.model or "model from the pods"
        line = status_line(state, text, spec.target, model, takes)
        item.setText(without_bidi_controls(f"{name}{head}\n{line}"))
        signature = (
            f", signature {spec.signature}"
            if spec.signature
            else ", signature from the model's metadata"
        )
        tip = [
            f"{name}: {spec.target} over {protocol.label} ({protocol.server})",
            f"model {spec.model or '(the one the pods declare: MODEL_NAME)'}{signature}",
        ]
        if takes:
            tip.append(takes)
        if detail and state is BackendState.OK:
            tip.append(detail)
        tip.append(text)
        item.setToolTip(tooltip("\n".join(tip)))
        item.setForeground(QColor("#b00020") if state is BackendState.ERROR else QColor("#555555"))
