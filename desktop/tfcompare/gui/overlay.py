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
        self.setStyleSheet("color: #7a7a7a; font-size: 13px; background: transparent;")
        parent.installEventFilter(self)
        self.setGeometry(parent.rect())
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect().adjusted(8, 8, -8, -8))
        return False
