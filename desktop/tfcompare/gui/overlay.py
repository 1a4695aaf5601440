"""Empty-state text drawn over a widget ("Drop images here", "Add a backend", ...)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtWidgets import QLabel, QWidget


class EmptyOverlay(QLabel):
    """A centred, transparent-to-mouse hint that follows its parent's size.

    ``area`` (optional) gives the rectangle, in the parent's coordinates, the hint must stay
    inside (a chart's plot area: the hint never covers its axes); call ``place`` when it moves."""

    def __init__(self, parent: QWidget, text: str, area: Callable[[], QRect] | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("emptyHint")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._area = area
        # a compact card on its own background: over a chart it never runs into axes or grid
        self.setStyleSheet(
            "color: #6a6a6a; font-size: 13px; background: rgba(255, 255, 255, 235);"
            "border: 1px solid #dddddd; border-radius: 6px; padding: 6px;"
        )
        parent.installEventFilter(self)
        self.place()
        self.show()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        if text != self.text():
            super().setText(text)
            self.place()

    def place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        outer = parent.rect()
        if self._area is not None:
            outer = self._area().intersected(outer)
        area = outer.adjusted(4, 4, -4, -4)
        if area.width() < 40 or area.height() < 20:
            area = outer
        width = min(area.width(), max(220, self.fontMetrics().horizontalAdvance("M") * 30))
        height = min(
            area.height(),
            self.heightForWidth(width) if self.hasHeightForWidth() else self.sizeHint().height(),
        )
        self.setGeometry(
            area.x() + (area.width() - width) // 2,
            area.y() + (area.height() - height) // 2,
            width,
            height,
        )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self.place()
        return False
