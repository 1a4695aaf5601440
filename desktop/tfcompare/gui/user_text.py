"""User text (backend, image and class names, messages) as the window draws it: always plain text,
never markup, and never able to reorder the text around it.

- Qt takes a string that looks like HTML as rich text (tooltips, pyqtgraph's legends and titles):
  a backend called ``<h1>FAKE</h1>`` or ``<img src=/path>`` would be drawn as a heading or a local
  picture. ``rich`` escapes a name for the places that take HTML; ``tooltip`` makes a tooltip
  that Qt shows word for word.
- An unterminated RIGHT-TO-LEFT OVERRIDE (U+202E) in a name reverses the rest of its line ("cpu‮
  12.5 ms" shows "sm 5.21"). ``shown`` drops the bidirectional formatting controls
  (``tfcompare.bidi``: embeddings, overrides, isolates, marks) and wraps text that holds
  right-to-left letters in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE, so a Hebrew or Arabic
  name reads as written and leaves the digits after it in their order. Plain left-to-right names
  are returned unchanged.
"""

from __future__ import annotations

import html
import unicodedata

from tfcompare.bidi import without_bidi_controls

FSI, PDI = "\u2068", "\u2069"
_RTL_CLASSES = frozenset({"R", "AL", "AN"})


def shown(text: object) -> str:
    """``text`` as one isolated piece of a line (see the module's docstring)."""
    text = without_bidi_controls(text)
    if any(unicodedata.bidirectional(c) in _RTL_CLASSES for c in text):
        return f"{FSI}{text}{PDI}"
    return text


def message(text: object) -> str:
    """A whole line made elsewhere (a status message naming backends and images): without the
    direction controls a name in it may hold, so none reorders the rest of the line."""
    return without_bidi_controls(text)


def rich(text: object) -> str:
    """``shown(text)`` escaped for a place that takes HTML (legends, titles, axis labels)."""
    return "<br>".join(html.escape(shown(line), quote=False) for line in str(text).split("\n"))


def tooltip(text: object) -> str:
    """A tooltip that Qt shows word for word, line breaks kept: a text that Qt could take for
    HTML (it holds a "<") is sent as escaped HTML; any other as it is."""
    lines = [shown(line) for line in str(text).split("\n")]
    if "<" not in str(text):  # nothing Qt could take for a tag: the text as it is
        return "\n".join(lines)
    escaped = "<br>".join(html.escape(line, quote=False) for line in lines)
    return f"<p style='white-space:pre-wrap'>{escaped}</p>"


def elided(text: object, width: int, metrics, mode=None) -> str:
    """``shown(text)`` shortened with "…" in the middle (both ends of a name are the telling
    parts: "cpu-8-…-rest") to fit ``width`` pixels of ``metrics``."""
    from PySide6.QtCore import Qt

    mode = Qt.TextElideMode.ElideMiddle if mode is None else mode
    plain = without_bidi_controls(text)
    short = metrics.elidedText(plain, mode, max(int(width), 0))
    return shown(short)
