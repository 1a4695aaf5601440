"""Help → How to read the charts, Keyboard shortcuts, About."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

HOW_TO_READ = """
<h3>How to read the charts</h3>
<p><b>Latency</b> (top left): for each variant of the images (original, then each size × format),
the median (p50) time of a request as the client sees it, one line per backend; the thin band
reaches the p90. Each point is pooled over <i>every</i> image (the Image selector picks what
Top-5 and the table show): the title says over how many images (fewer for a size larger than
some images, which is skipped for them). The cold first
request of each backend is marked separately; warm-up requests are never counted. A dashed line
is another session's latency (File → Compare with session…). A pale bar, when the backends
publish metrics, is the time spent on the server.</p>
<p><b>Quality</b> (top right): for each variant, the bytes sent (left = smaller) against how much
of the prediction survived: the score the model gives the original's top-1 class, as a share of
its score on the original (100 % = unchanged; it can exceed 100 %). The marker says the format:
circle JPEG, square PNG, triangle WebP, star the original; a filled marker keeps the original's
top-1 class on every image, a hollow one loses it on some. Mean over the images, as the title
says.</p>
<p><b>Top-5</b> (bottom left): the five classes each backend answered for the <i>selected</i>
image and variant (pick them above the charts, in the table, or by clicking a chart).</p>
<p><b>Table</b> (bottom right): one row per image × variant × backend: p50/p90/p99, mean, the
number of samples (values marked * come from fewer than 10 samples: indicative only), errors,
bytes sent, and whether the top-1 class matches the original's.</p>
"""

SHORTCUTS = (
    ("Ctrl+O", "Add images"),
    ("Ctrl+V", "Paste an image or image files"),
    ("Delete", "Remove the selected images (in the list)"),
    ("Ctrl+Z", "Undo a removal"),
    ("Ctrl+B", "Add a backend"),
    ("Ctrl+Shift+R", "Refresh backend status"),
    ("Ctrl+R", "Run the comparison"),
    ("Esc", "Cancel the run"),
    ("Ctrl+L", "Log latency scale"),
    ("Ctrl+N", "New session"),
    ("Ctrl+Shift+O", "Open a session"),
    ("Ctrl+S", "Save the session"),
    ("Ctrl+Shift+T", "Copy the results table"),
    ("F12", "Save a window screenshot"),
    ("Ctrl+Shift+C", "Copy a window screenshot"),
    ("F1", "How to read the charts"),
)


def how_to_read(parent: QWidget) -> None:
    box = QMessageBox(
        QMessageBox.Icon.NoIcon,
        "How to read the charts",
        HOW_TO_READ,
        QMessageBox.StandardButton.Close,
        parent,
    )
    box.setObjectName("howToRead")
    box.open()


def shortcuts_html() -> str:
    rows = "".join(
        f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for k, what in SHORTCUTS
    )
    return f"<h3>Keyboard shortcuts</h3><table>{rows}</table>"


def shortcuts(parent: QWidget) -> None:
    box = QMessageBox(
        QMessageBox.Icon.NoIcon,
        "Keyboard shortcuts",
        shortcuts_html(),
        QMessageBox.StandardButton.Close,
        parent,
    )
    box.setObjectName("shortcuts")
    box.open()


def about(parent: QWidget) -> None:
    from tfcompare import __version__

    QMessageBox.about(
        parent,
        "About tfcompare",
        f"<b>tfcompare {__version__}</b><p>Compare TensorFlow Serving backends on your own images: "
        "latency, top-5 and how much quality each resized or re-encoded variant keeps.</p>",
    )
