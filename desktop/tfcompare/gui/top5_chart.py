"""Top-5 predictions of every backend for the selected image and variant: horizontal bars with the
class names, and the scores labelled as probabilities or logits (as the model returns them)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from tfcompare.gui.chart_base import Chart, title_metrics
from tfcompare.gui.colors import BackendColors
from tfcompare.gui.user_text import message, shown
from tfcompare.serving.answers import Prediction

MAX_LABEL = 24


def _short(label: str, limit: int = MAX_LABEL, note: str = "") -> str:
    """A class or backend name for the axis: shortened in the middle past ``limit`` characters
    or past what the axis has room for (the row's tooltip has it whole), plain and isolated
    (see ``user_text``); ``note`` follows it whole."""
    from PySide6.QtGui import QFont, QFontMetrics

    label = message(label)
    limit = max(limit, 5)
    if len(label) > limit:
        head = limit // 2
        label = label[:head] + "…" + label[len(label) - (limit - 1 - head) :]
    fm = QFontMetrics(QFont())
    room = Top5Chart.LEFT_PX - 14 - fm.horizontalAdvance(note)
    return shown(fm.elidedText(label, Qt.TextElideMode.ElideMiddle, max(room, 30))) + note


class Top5Chart(Chart):
    title = "Top-5 predictions"
    LEFT_PX = 150  # the class names' axis (its rows have tooltips too)

    def __init__(self, colors: BackendColors, parent=None) -> None:
        super().__init__(
            "Top-5 answers of each backend\nfor the selected image\nand variant appear here.",
            parent,
        )
        self.colors = colors
        self.item.invertY(True)
        self.item.showGrid(x=True, y=False, alpha=0.25)
        self.item.getAxis("left").setWidth(self.LEFT_PX)
        self.item.getAxis("bottom").enableAutoSIPrefix(False)
        self.item.setMouseEnabled(x=False, y=False)
        self.legend.hide()
        self._bars: dict[str, pg.BarGraphItem] = {}
        self._texts: list[pg.TextItem] = []
        self.shown: dict[str, tuple[Prediction, ...]] = {}
        self._last: tuple | None = None
        self._where: tuple[str, str] | None = None  # (image, variant) named in the title
        self._args: tuple | None = None  # the last update_data call (redrawn when rows change)
        self.per_backend = 5  # classes shown per backend: fewer when the chart is too short
        self.item.layout.removeItem(self.legend)  # one colour per backend: the rows say which
        self.item.vb.sigResized.connect(lambda _vb: self._on_view_resized())

    def elide_title(self, text: str, width: int) -> str:
        """Keep the variant whole and shorten the image name (in the middle) when space is short."""
        fm = title_metrics()
        if fm.horizontalAdvance(text) <= width or self._where is None:
            return super().elide_title(text, width)
        image, variant = self._where
        head, tail = "Top-5 — ", f" · {variant}"
        room = width - fm.horizontalAdvance(head + tail)
        if room < fm.horizontalAdvance("ab…yz"):
            return super().elide_title(f"{head}{image}{tail}", width)
        return (
            head + shown(fm.elidedText(message(image), Qt.TextElideMode.ElideMiddle, room)) + tail
        )

    def _make_items(self, backend: str) -> None:
        self._bar(backend)

    def clear_backend_items(self) -> None:
        for b in list(self._bars):
            self.item.removeItem(self._bars.pop(b))
        self._last = None

    def _bar(self, backend: str) -> pg.BarGraphItem:
        if backend not in self._bars:
            color = self.colors.color(backend)
            bar = pg.BarGraphItem(
                x0=[], y=[], height=[], width=[], brush=color, pen=pg.mkPen(color)
            )
            self.item.addItem(bar)
            self._bars[backend] = bar
            # the score labels are made with the bar, when backends are configured, instead of
            # at the first answer, when a run starts and every view is busy
            self._text(5 * len(self._bars) - 1)
        return self._bars[backend]

    _row_tips: dict[int, str] = {}

    def point_tip(self, scene_pos) -> str:
        """A row's tooltip: the backend, or the class and its score, whole."""
        vb = self.item.vb
        if not vb.sceneBoundingRect().adjusted(-self.LEFT_PX, 0, 0, 0).contains(scene_pos):
            return ""
        row = round(vb.mapSceneToView(scene_pos).y())
        return self._row_tips.get(row, "")

    def _text(self, i: int) -> pg.TextItem:
        while len(self._texts) <= i:
            t = pg.TextItem("", color="#222222", anchor=(0, 0.5))
            t.hide()
            self.item.addItem(t, ignoreBounds=True)
            self._texts.append(t)
        return self._texts[i]

    def update_data(
        self,
        image: str | None,
        variant_label: str | None,
        backends: list[str],
        answers: dict[str, tuple[tuple[Prediction, ...], str] | None],
        notes: dict[str, str] | None = None,
    ) -> None:
        """``answers[backend]`` = (top5, score_kind) or None (no answer yet / failed: ``notes``)."""
        notes = notes or {}
        self._args = (image, variant_label, backends, answers, notes)
        per_backend = self._rows_that_fit(len(backends))
        key = (
            image,
            variant_label,
            tuple(backends),
            tuple(sorted(answers.items(), key=lambda kv: kv[0])),
            tuple(sorted(notes.items())),
            per_backend,
        )
        if key == self._last:
            return  # nothing new: redrawing the axes would only cost time
        self._last = key
        self.per_backend = per_backend
        self.refreshes += 1
        ticks: list[tuple[float, str]] = []
        row = 0
        used_text = 0
        kinds = set()
        lo, hi = 0.0, 0.0
        self.shown = {}
        self.set_backends(backends)
        self._row_tips = {}
        if not any(answers.get(b) for b in backends):
            backends_shown: list[str] = []  # nothing to show yet: the empty-state hint says why
        else:
            backends_shown = backends
        for b in backends:
            if b not in backends_shown:
                self._bar(b).setOpts(x0=[], y=[], height=[], width=[])
                continue
            answer = answers.get(b)
            note = "" if answer else f": {notes.get(b, 'no answer yet')}"
            ticks.append((row, _short(f"▸ {b}", MAX_LABEL, note)))
            self._row_tips[row] = f"{b}{note}"
            row += 1
            bar = self._bar(b)
            if not answer:
                bar.setOpts(x0=[], y=[], height=[], width=[])
                continue
            top5, kind = answer
            kinds.add(kind)
            self.shown[b] = top5
            top5 = top5[:per_backend]
            ys = list(range(row, row + len(top5)))
            scores = [p.score for p in top5]
            bar.setOpts(x0=[0] * len(ys), y=ys, height=[0.75] * len(ys), width=scores)
            for y, p in zip(ys, top5, strict=True):
                ticks.append((y, _short(p.label)))
                self._row_tips[y] = f"{b}: {p.label}\n{kind} {p.score:.4g}"
                t = self._text(used_text)
                used_text += 1
                t.setText(f"{p.score:.3f}" if kind != "logit" else f"{p.score:.2f}")
                t.setPos(max(p.score, 0), y)
                t.show()
                lo, hi = min(lo, p.score), max(hi, p.score)
            row += len(top5)
        for t in self._texts[used_text:]:
            t.hide()
        self.item.getAxis("left").setTicks([ticks, []])
        kind = kinds.pop() if len(kinds) == 1 else ("score" if kinds else "")
        unit = {
            "probability": "probability",
            "logit": "logit (not a probability)",
            "unknown": "score",
        }.get(kind, kind)
        if per_backend < 5 and self.shown:  # said where it stays visible: under the bars
            # the longest wording that fits under the bars (_fit_unit_label)
            self._units = (
                f"{unit} · top {per_backend} of 5 shown (a taller chart shows all)",
                f"{unit} · top {per_backend} of 5 shown",
                f"{unit} · top {per_backend} of 5",
                f"top {per_backend} of 5 shown",
            )
        else:
            self._units = (unit,)
        self._fit_unit_label()
        self._where = (image, variant_label) if image and variant_label else None
        where = f" — {shown(image)} · {variant_label}" if self._where else ""
        self.set_title(f"{self.title}{where}")
        self._extent = (lo, hi, row, max((len(t.toPlainText()) for t in self._texts), default=5))
        self._fit_x()
        self.set_empty(not self.shown)

    _extent: tuple = (0.0, 0.0, 0, 5)
    _units: tuple[str, ...] = ("",)

    def _fit_unit_label(self) -> None:
        """The bottom axis says the kind of score, and how many classes of 5 are shown when not
        all: in the longest of its wordings that the axis has room for, centred under it."""
        from PySide6.QtGui import QFontMetrics

        axis = self.item.getAxis("bottom")
        room = max(self.item.vb.width(), 1.0) - 8  # the label item's own margins
        metrics = QFontMetrics(axis.label.font())
        label = next(
            (u for u in self._units if metrics.horizontalAdvance(u) <= room), self._units[-1]
        )
        if label != axis.labelText:
            self.item.setLabel("bottom", label)
            # pyqtgraph places an axis label only when the axis is resized: placed again for
            # the new text's width, or a longer text starts where the shorter one did
            axis.resizeEvent()

    def _fit_x(self) -> None:
        """Room right of the longest bar for its score, in pixels: the score is never cut, however
        narrow the chart."""
        lo, hi, rows, chars = self._extent
        if not rows:
            return
        span = (hi - lo) or 1.0
        x0 = min(lo, 0) - span * 0.02
        from PySide6.QtGui import QFont, QFontMetrics

        text_px = QFontMetrics(QFont()).horizontalAdvance("0" * chars) + 14  # the labels' font
        width = max(self.item.vb.width(), 1.0)
        share = min(max(text_px / max(width - text_px, 1.0), 0.24), 1.5)
        self.set_range(x=(x0, hi + (hi - x0) * share), y=(-0.6, rows - 0.4))

    def _rows_that_fit(self, n_backends: int) -> int:
        """How many classes per backend the chart's height shows without names overlapping:
        5, else 3, 2 or 1 (each backend also takes a row for its name)."""
        from PySide6.QtGui import QFont, QFontMetrics

        line = QFontMetrics(QFont()).height() * 1.1
        height = self.item.vb.height()
        if n_backends < 1 or height < 1:
            return 5
        fits = int(height // line)
        for k in (5, 3, 2):
            if n_backends * (k + 1) <= fits:
                return k
        return 1

    def _on_view_resized(self) -> None:
        """The bars' area changed size: as many classes per backend as now fit (redrawn after
        the layout settles, not inside it), the scores' room and the axis label's wording."""
        self._fit_x()
        self._fit_unit_label()
        if self._args is not None and self._rows_that_fit(len(self._args[2])) != self.per_backend:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self._refit_rows)

    def _refit_rows(self) -> None:
        if self._args is not None and self._rows_that_fit(len(self._args[2])) != self.per_backend:
            self.update_data(*self._args)

    def on_plot_resized(self) -> None:
        self._fit_x()
