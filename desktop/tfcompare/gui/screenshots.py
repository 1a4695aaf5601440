"""Screenshots: the whole window or one chart, to PNG / SVG files or the clipboard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget


def grab_window(window: QWidget) -> QImage:
    """The window as it looks now, at its own size (works offscreen too)."""
    QApplication.processEvents()
    return window.grab().toImage()


def save_image(image: QImage, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # PySide6's stub types the format as bytes; at run time it takes str only
    fmt = "PNG" if path.suffix.lower() != ".jpg" else "JPG"
    if not image.save(str(path), fmt):  # type: ignore[call-overload]
        raise OSError(f"could not write {path}")


def save_window_png(window: QWidget, path: str | Path) -> QImage:
    image = grab_window(window)
    save_image(image, path)
    return image


def copy_image(image: QImage) -> None:
    QGuiApplication.clipboard().setImage(image)
