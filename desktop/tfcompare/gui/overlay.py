"""Empty-state text drawn over a widget ("Drop images here", "Add a backend", ...)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget


class EmptyOverlay(QLabel):
    """A centred, transparent-to-mouse hint that follows its parent's size."""

    def __init__(self, parent: QWidget, text: str) -> None:
        super().__init__(text, parent)
        self.setObjectName("emptyHint")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        # a compact card on its own background: over a chart it never runs into axes or grid
        self.setStyleSheet("color: #6a6a6a; font-size: 13px; background: rgba(255, 255, 255, 235);"
                           "border: 1px solid #dddddd; border-radius: 6px; padding: 8px;")
        parent.installEventFilter(self)
        self._place()
        self.show()

    def _place(self) -> None:
        area = self.parentWidget().rect().adjusted(8, 8, -8, -8)
        width = min(area.width(), max(220, self.fontMetrics().horizontalAdvance("M") * 30))
        height = min(area.height(), self.heightForWidth(width) if self.hasHeightForWidth()
                     else self.sizeHint().height())  # fmt: skip
        self.setGeometry(area.x() + (area.width() - width) // 2,
                         area.y() + (area.height() - height) // 2, width, height)  # fmt: skip

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self._place()
        return False
