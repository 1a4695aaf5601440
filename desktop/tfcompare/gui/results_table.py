"""The numbers behind the charts: one row per image × variant × backend; sortable and copyable."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tfcompare.gui.chart_base import short_variant
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.user_text import shown, tooltip
from tfcompare.imaging.values import variant_sort_key
from tfcompare.results import Aggregate

# The natural order; which columns a narrow table shows first is decided by PRIORITY (see
# ``ResultsTable.fit_columns``). Server, model and path time are means per request (the server's
# counters give means): they sit beside the mean latency, not the p50.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("image", "Image"),
    ("variant", "Variant"),
    ("backend", "Backend"),
    ("p50_ms", "p50\nms"),
    ("p90_ms", "p90\nms"),
    ("n_errors", "Errors"),
    ("top1_agree", "Same\ntop-1"),
    ("score_ratio", "Score\nratio"),
    ("mean_ms", "Mean\nms"),
    ("server_ms", "Server\nms"),  # from the server's metrics
    ("runtime_ms", "Model\nms"),
    ("path_ms", "Path\nms"),
    ("queue_ms", "Queue\nms"),  # servers that report queueing (Triton)
    ("preprocess_ms", "Prep\nms"),  # client-side preprocessing (tensor-input models)
    ("n", "n"),
    ("bytes", "Bytes"),
    ("p99_ms", "p99\nms"),
    ("stdev_ms", "Stdev\nms"),
    ("top1", "Top-1"),
    ("top5_overlap", "Top-5\noverlap"),
)
# What a narrow table (a 1280×800 laptop) shows without scrolling sideways, most important first:
# the names, p50 and p90; when a backend publishes server metrics, the mean with the server and
# path time beside it (the split the latency chart draws only as a pale bar; the quality chart
# draws the score ratio in full); then the score ratio, then the rest. Errors come right after
# p90 once a request has failed. Columns of equal priority go together or not at all.
PRIORITY = {
    "image": 0,
    "variant": 0,
    "backend": 0,
    "p50_ms": 1,
    "p90_ms": 2,
    "mean_ms": 3,
    "server_ms": 3,
    "path_ms": 3,
    "score_ratio": 4,
    "top1_agree": 5,
    "n_errors": 5,
    "runtime_ms": 6,
    "queue_ms": 6,
    "preprocess_ms": 6,
    "n": 7,
    "bytes": 7,
    "p99_ms": 7,
    "stdev_ms": 8,
    "top1": 8,
    "top5_overlap": 8,
}
# shown only when some row has a value (a backend with server metrics, queue time, preprocessing)
OPTIONAL = {
    "server_ms": "server_ms",
    "runtime_ms": "server_ms",
    "path_ms": "server_ms",
    "queue_ms": "queue_ms",
    "preprocess_ms": "preprocess_ms",
}
WIDTHS = {"image": 80, "variant": 62, "backend": 80, "top1": 110}  # at least; values: SAMPLES
HEADER_TIPS = {
    "image": "sorted by image (as listed), variant (original, then larger first), backend",
    "p50_ms": "median latency; * = fewer than 10 samples: indicative only",
    "p90_ms": "90th percentile latency; * = fewer than 10 samples: indicative only",
    "mean_ms": "mean latency: server, model and path time beside it are means too",
    "server_ms": "mean time the server spent on these requests (TF Serving's request_latency "
    "metric); ~ = not exact: the server also counted other requests, or restarted",
    "runtime_ms": "mean time of the model run alone (TF Serving's runtime_latency metric)",
    "path_ms": "mean latency − server time: network, tunnel (port-forward) and client; compare "
    "with the backend's path floor in the backends list",
    "queue_ms": "mean time these requests waited in the server's queue (servers that report it, "
    "such as Triton); ~ = not exact",
    "preprocess_ms": "mean time the client spent turning the image into the model's tensor "
    "(decode, resize, scale): not part of the latency",
    "n_errors": "requests that failed (see the backends list for why)",
    "score_ratio": "score of the original's top-1 class in this variant ÷ its score on the original",
    "top1_agree": "same top-1 class as this backend's answer on the original image",
    "top5_overlap": "classes shared with the original's top 5, out of 5",
}
# the widest text a value column usually holds: value columns are as narrow as their numbers
# (or header) allow, so more of them fit beside the names
SAMPLES = {
    "p50_ms": "888.8*",
    "p90_ms": "888.8*",
    "p99_ms": "888.8*",
    "mean_ms": "888.8",
    "stdev_ms": "888.8",
    "server_ms": "~888.8",
    "runtime_ms": "~888.8",
    "path_ms": "~888.8",
    "queue_ms": "~888.8",
    "preprocess_ms": "888.8",
    "n_errors": "888",
    "top1_agree": "yes",
    "score_ratio": "100 %",
    "top5_overlap": "100 %",
    "n": "888",
    "bytes": "888,888",
}
TEXT_KEYS = ("image", "variant", "backend", "top1")
FIRST_VALUE = 3  # columns before this name the row and never change
NAME_COLUMN_MAX = 220  # a name column grows to its longest name up to this width
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
HANDLED_ROLES = frozenset(
    {
        SORT_ROLE,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.DecorationRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.TextAlignmentRole,
    }
)


def cell_text(agg: Aggregate, key: str) -> str:
    value = getattr(agg, key)
    if value is None:
        return "—"
    if key in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "stdev_ms"):
        text = f"{value:.1f}" if value >= 10 else f"{value:.2f}"
        return text + ("*" if agg.few_samples and key.startswith("p") and key != "path_ms" else "")
    if key in ("server_ms", "runtime_ms", "path_ms", "queue_ms"):
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return ("" if agg.server_exact else "~") + text
    if key == "preprocess_ms":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if key == "top1_agree":
        return "yes" if value else "NO"
    if key in ("top5_overlap", "score_ratio"):
        return f"{100 * value:.0f} %"
    if key == "bytes":
        return f"{value:,}"
    if key == "variant":
        return short_variant(value)  # the name the charts and the selector use
    return shown(value)  # an image, backend or class name: isolated, never reordering the row


def variant_rank(key: str) -> str:
    """A string that sorts like ``variant_sort_key`` (original, larger boxes first, format)."""
    group, neg_box, fmt = variant_sort_key(key)
    return f"{group}{100_000 + neg_box:06d}{fmt}"


def sort_value(agg: Aggregate, key: str, order: SortOrder | None = None):
    """What a column sorts by. The image, variant and backend columns sort by a composite key so
    that rows stay in a meaningful order within equal values (and sorting by image, the default,
    gives image as listed → variant ladder → backend order)."""
    if key in ("image", "variant", "backend"):
        order = order or SortOrder()
        parts = {
            "image": f"{order.images.get(agg.image, 99_999):05d}{agg.image}",
            "variant": variant_rank(agg.variant),
            "backend": f"{order.backends.get(agg.backend, 999):03d}{agg.backend}",
        }
        first = parts.pop(key)
        return "\x1f".join((first, *parts.values()))
    value = getattr(agg, key)
    if value is None:
        return float("-inf")
    if isinstance(value, bool):
        return int(value)
    return value


class SortOrder:
    """Positions of images (as listed in the window) and backends (as configured)."""

    def __init__(self, images: Sequence[str] = (), backends: Sequence[str] = ()) -> None:
        self.images = {name: i for i, name in enumerate(images)}
        self.backends = {name: i for i, name in enumerate(backends)}

    def key(self) -> tuple:
        return tuple(self.images), tuple(self.backends)


class ResultsModel(QAbstractTableModel):
    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(parent)
        self.colors = colors
        self.rows: list[Aggregate] = []
        self._index: dict[tuple[str, str, str], int] = {}
        self.order = SortOrder()
        self._texts: dict[int, tuple[str, ...]] = {}  # row → cell texts

    def rowCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section][0], COLUMNS[section][1])
        return None

    def _row_texts(self, row: int) -> tuple[str, ...]:
        texts = self._texts.get(row)
        if texts is None:  # formatted once per change, not on every repaint
            agg = self.rows[row]
            # names come out of cell_text isolated and without direction controls (user_text)
            texts = self._texts[row] = tuple(cell_text(agg, key) for key, _ in COLUMNS)
        return texts

    def longest_text(self, column: int) -> str:
        """The longest text in a column, from the cached cell texts: sizing a column by it costs
        one pass over strings, where asking the view reads every cell through Qt."""
        return max(
            (self._row_texts(row)[column] for row in range(len(self.rows))), key=len, default=""
        )

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:  # the hot path: every visible cell, every repaint
            return self._row_texts(index.row())[index.column()]
        if role not in HANDLED_ROLES:
            return None
        agg = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == SORT_ROLE:
            return sort_value(agg, key, self.order)
        if role == Qt.ItemDataRole.ToolTipRole and key in TEXT_KEYS:
            whole = short_variant(agg.variant) if key == "variant" else getattr(agg, key) or ""
            return tooltip(whole)  # the cell may be elided: the whole name
        if role == Qt.ItemDataRole.DecorationRole and key == "backend":
            return QColor(self.colors.color(agg.backend))
        if role == Qt.ItemDataRole.ForegroundRole and (
            (key == "n_errors" and agg.n_errors)
            or (key == "top1_agree" and agg.top1_agree is False)
        ):
            return QColor("#b00020")
        if role == Qt.ItemDataRole.TextAlignmentRole and key not in TEXT_KEYS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def upsert(self, aggs: list[Aggregate]) -> None:
        latest = {
            (a.image, a.variant, a.backend): a for a in aggs
        }  # a batch may hold one cell twice
        new = []
        for agg in latest.values():
            key = (agg.image, agg.variant, agg.backend)
            row = self._index.get(key)
            if row is None:
                new.append(agg)
            else:
                self.rows[row] = agg
                self._texts.pop(row, None)
                self.dataChanged.emit(
                    self.index(row, FIRST_VALUE), self.index(row, len(COLUMNS) - 1)
                )
        if new:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for i, agg in enumerate(new):
                self._index[(agg.image, agg.variant, agg.backend)] = first + i
                self.rows.append(agg)
            self.endInsertRows()

    def reset(self, aggs: Iterable[Aggregate] = ()) -> None:
        self.beginResetModel()
        self.rows = list(aggs)
        self._texts = {}
        self._index = {(a.image, a.variant, a.backend): i for i, a in enumerate(self.rows)}
        self.endResetModel()


class ResultsTable(QWidget):
    """Table view; selecting a row selects its image and variant everywhere."""

    row_selected = Signal(str, str)  # image, variant

    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(parent)
        self.model = ResultsModel(colors, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setAcceptDrops(False)
        self.view.installEventFilter(self)
        # the viewport narrows when the vertical scrollbar appears: the columns are fitted again
        self.view.viewport().installEventFilter(self)
        self._fitted_width = 0
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "astr…t.jpg", "cpu…rest"
        self.view.horizontalHeader().setMinimumSectionSize(30)
        for col, (key, _title) in enumerate(COLUMNS):
            if key in WIDTHS:
                self.view.setColumnWidth(col, WIDTHS[key])
        self.fit_columns()
        self.view.selectionModel().currentRowChanged.connect(self._on_current_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        from tfcompare.gui.overlay import EmptyOverlay

        self.empty = EmptyOverlay(
            self.view.viewport(), "Results table: one row per image × variant × backend."
        )
        self._guard = False
        self._sized_for: tuple = ()
        # after a sort the selected row stays in view
        self.view.horizontalHeader().sortIndicatorChanged.connect(self._keep_current_in_view)

    def upsert(self, aggs: list[Aggregate]) -> None:
        self.model.upsert(aggs)
        self._after_rows_changed()

    def reset(self, aggs: Iterable[Aggregate] = ()) -> None:
        self.model.reset(aggs)
        self._after_rows_changed()

    def _after_rows_changed(self) -> None:
        self.empty.setVisible(not self.model.rows)
        names = (
            frozenset(a.image for a in self.model.rows),
            frozenset(a.backend for a in self.model.rows),
            self.present(),
        )
        if names != self._sized_for and self.model.rows:
            self._sized_for = names
            self.fit_columns()

    def present(self) -> frozenset[str]:
        """What the rows hold that decides the columns: which optional figures some row has, and
        whether any request failed."""
        rows = self.model.rows
        have = {
            src for src in set(OPTIONAL.values()) if any(getattr(a, src) is not None for a in rows)
        }
        if any(a.n_errors for a in rows):
            have.add("errors")
        return frozenset(have)

    def shown_columns(self) -> list[str]:
        """The columns a user sees without scrolling sideways, left to right."""
        header = self.view.horizontalHeader()
        width = self.view.viewport().width()
        out = []
        for visual in range(header.count()):
            col = header.logicalIndex(visual)
            if header.isSectionHidden(col):
                continue
            if header.sectionViewportPosition(col) + header.sectionSize(col) <= width + 1:
                out.append(COLUMNS[col][0])
        return out

    def fit_columns(self) -> None:
        """See ``_fit_columns``; a resize it causes (a scrollbar appearing) fits them again
        afterwards, never in the middle."""
        if self._fitting:
            self._fit_again = True
            return
        self._fitting = True
        try:
            for _ in range(3):
                self._fit_again = False
                self._fit_columns()
                if not self._fit_again:
                    break
        finally:
            self._fitting = False

    _fitting = False
    _fit_again = False

    def _fit_columns(self) -> None:
        """Value columns as narrow as their numbers and header allow; optional columns only
        when some row has their figures; then, for the table's width, the most important columns
        (``PRIORITY``) first — in their natural order — and the rest after them (scrolled to),
        and the name columns grow towards their longest name (backend first, then variant, then
        image) with the room those leave."""
        keys = [k for k, _ in COLUMNS]
        fm = self.view.fontMetrics()
        head = self.view.horizontalHeader().fontMetrics()
        present = self.present()
        for col, (key, title) in enumerate(COLUMNS):
            self.view.setColumnHidden(col, key in OPTIONAL and OPTIONAL[key] not in present)
            if key in SAMPLES:
                width = max(
                    fm.horizontalAdvance(SAMPLES[key]) + 12,
                    max(head.horizontalAdvance(t) for t in title.split("\n")) + 14,
                    fm.horizontalAdvance(self.model.longest_text(col)) + 12,
                )
                self.view.setColumnWidth(col, width)
        if not self.model.rows:
            self._arrange([c for c in range(len(COLUMNS))])
            return
        names = (keys.index("backend"), keys.index("variant"), keys.index("image"))
        for col in names:
            self.view.setColumnWidth(col, WIDTHS[keys[col]])
        visible = [c for c in range(len(COLUMNS)) if not self.view.isColumnHidden(c)]

        def rank(col: int) -> int:
            key = keys[col]
            if key == "n_errors" and "errors" in present:
                return 1  # a failure is worth seeing first
            if key == "mean_ms" and "server_ms" not in present:
                return PRIORITY["p99_ms"]  # with the other figures, not ahead of the quality
            return PRIORITY[key]

        room = self.view.viewport().width()
        first: set[int] = set()
        for level in sorted({rank(c) for c in visible}):
            group = [c for c in visible if rank(c) == level]
            need = sum(self.view.columnWidth(c) for c in group)
            if first and need > room:
                continue  # a smaller, less important group may still fit
            if level > rank(keys.index("server_ms")) and keys.index("server_ms") not in first:
                group = [c for c in group if keys[c] != "runtime_ms"]  # only beside the server's
                need = sum(self.view.columnWidth(c) for c in group)
            first.update(group)
            room -= need
        self._arrange([c for c in visible if c in first] + [c for c in visible if c not in first])
        for col in names:
            current = self.view.columnWidth(col)
            wanted = min(max(self._name_width(col) + 8, current), NAME_COLUMN_MAX)
            grow = max(0, min(wanted - current, room))
            if grow:
                self.view.setColumnWidth(col, current + grow)
                room -= grow

    def _arrange(self, order: list[int]) -> None:
        """Put these logical columns at visual positions 0, 1, … (hidden ones keep theirs)."""
        header = self.view.horizontalHeader()
        for visual, col in enumerate(order):
            now = header.visualIndex(col)
            if now != visual:
                header.moveSection(now, visual)

    def _name_width(self, col: int) -> int:
        """Room for a name column's longest text (and the backend's colour swatch)."""
        width = self.view.fontMetrics().horizontalAdvance(self.model.longest_text(col)) + 12
        if COLUMNS[col][0] == "backend":
            style = self.view.style()
            width += style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize) + 6
        return width

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.model.rows:
            self.fit_columns()

    def _keep_current_in_view(self, *_args) -> None:
        if self.view.currentIndex().isValid():
            self.view.scrollTo(self.view.currentIndex())

    def set_order(self, images: list[str], backends: list[str]) -> None:
        """Images as listed and backends as configured: the default order of the rows."""
        order = SortOrder(images, backends)
        if order.key() != self.model.order.key():
            self.model.order = order
            self.proxy.invalidate()

    def _on_current_changed(self, current, _previous) -> None:
        if self._guard or not current.isValid():
            return
        agg = self.model.rows[self.proxy.mapToSource(current).row()]
        self.row_selected.emit(agg.image, agg.variant)

    def select(self, image: str | None, variant: str | None) -> None:
        """Follow a selection made elsewhere (without echoing it back)."""
        cur = self.view.currentIndex()
        if cur.isValid():
            agg = self.model.rows[self.proxy.mapToSource(cur).row()]
            if agg.image == image and agg.variant == variant:
                return
        shown = [
            self.proxy.mapFromSource(self.model.index(row, 0))
            for row, agg in enumerate(self.model.rows)
            if agg.image == image and agg.variant == variant
        ]
        if shown:  # the topmost of the matching rows, as the table is sorted now
            index = min(shown, key=lambda i: i.row())
            self._guard = True
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)
            self._guard = False

    def copy_text(self, all_rows: bool = False) -> str:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        if all_rows or not rows:
            rows = list(range(self.proxy.rowCount()))
        lines = ["\t".join(title.replace("\n", " ") for _, title in COLUMNS)]
        for r in rows:
            lines.append("\t".join(str(self.proxy.index(r, c).data()) for c in range(len(COLUMNS))))
        return "\n".join(lines) + "\n"

    def copy(self) -> None:
        """The selected rows (Ctrl+C in the table), or every row when none is selected."""
        QGuiApplication.clipboard().setText(self.copy_text())

    def copy_all(self) -> int:
        """Every row, as tab-separated text (pastes into a spreadsheet); returns how many."""
        QGuiApplication.clipboard().setText(self.copy_text(all_rows=True))
        return self.proxy.rowCount()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        """Ctrl+C copies the selected rows as tab-separated text (the view would copy one cell);
        a viewport of another width fits the columns again."""
        if watched is self.view.viewport():
            width = self.view.viewport().width()
            if event.type() == QEvent.Type.Resize and width != self._fitted_width:
                self._fitted_width = width
                if self.model.rows:
                    self.fit_columns()
            return False
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride) and event.matches(
            QKeySequence.StandardKey.Copy
        ):
            if event.type() == QEvent.Type.KeyPress:
                self.copy()
            event.accept()
            return True
        return False
