"""Help → How to read the charts, Keyboard shortcuts, About."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

HOW_TO_READ = """
<h3>How to read the charts</h3>
<p><b>Latency</b> (top left): for each variant of the images (original, then each size × format),
the median (p50) time of a request as the client sees it, one dot per backend, joined by a line;
a whisker (a thin vertical line) reaches up to the p90. Each point is pooled over <i>every</i>
image (the Image selector picks what Top-5 and the table show): the title says over how many
images (fewer for a size larger than some images, which is skipped for them). The cold first
request of each backend is marked with a star; warm-up requests are never counted. A dashed line
is another session's latency (File → Compare with session…). When the backends publish metrics,
a pale bar under a point is the server's share of its time (the rest is the path: network,
tunnel and client); on the log scale, where a bar's height says nothing, a pale dash marks the
same value.</p>
<p><b>Quality</b> (top right): for each variant, the bytes sent (left = smaller) against how much
of the prediction survived: the score the model gives the original's top-1 class, as a share of
its score on the original (100 % = unchanged; it can exceed 100 %). The marker says the format:
circle JPEG, square PNG, triangle WebP, star the original; a filled marker keeps the original's
top-1 class on every image, a hollow one loses it on some. Mean over the images, as the title
says. A variant's name sits beside its points where it covers none; where there is no room it
is left out.</p>
<p><b>Top-5</b> (bottom left): the five classes each backend answered for the <i>selected</i>
image and variant (pick them above the charts, in the table, or by clicking a chart).</p>
<p><b>Table</b> (bottom right): one row per image × variant × backend: p50/p90/p99, mean, the
number of samples (values marked * come from fewer than 10 samples: indicative only), errors,
bytes sent, and whether the top-1 class matches the original's; server, model, path and queue
time when the backends publish metrics, and the client's preprocessing time for models that take
tensors. The columns that matter most come first when the table is narrow.</p>
<p><b>Everywhere</b>: rest the mouse on a point (or a top-5 row) for what it is and its numbers;
each backend has one colour, from its place in the comparison (the first is blue), in the
charts, the table, the report and <code>tfcompare render</code>.</p>
"""

# Keys that belong to one list rather than to a menu action.
IN_LIST_KEYS = (
    ("Delete", "Remove the selected images (in the images list)"),
    ("Ctrl+C", "Copy the selected rows (in the results table)"),
)


def action_shortcuts(window: QMainWindow) -> list[tuple[str, str]]:
    """(keys, "Menu → Action") of every menu action that has a shortcut, in menu order, read from
    the actions themselves (so the list cannot drift from what the keys do), then the keys of the
    images list and the table."""
    from PySide6.QtGui import QKeySequence

    rows: list[tuple[str, str]] = []

    def clean(text: str) -> str:
        return text.replace("&", "").rstrip("…").strip()

    def walk(menu, path: str) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            if action.menu() is not None:
                walk(action.menu(), f"{path} → {clean(action.text())}")
                continue
            key = action.shortcut()  # the first of a standard key's bindings: the usual one
            if not key.isEmpty():
                keys = key.toString(QKeySequence.SequenceFormat.NativeText)
                rows.append((keys, f"{path} → {clean(action.text())}"))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), clean(top.text()))
    return rows + list(IN_LIST_KEYS)


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


def shortcuts_html(window: QMainWindow) -> str:
    rows = "".join(
        f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(what)}</td></tr>"
        for k, what in action_shortcuts(window)
    )
    return f"<h3>Keyboard shortcuts</h3><table>{rows}</table>"


def shortcuts(parent: QMainWindow) -> None:
    box = QMessageBox(
        QMessageBox.Icon.NoIcon,
        "Keyboard shortcuts",
        shortcuts_html(parent),
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
