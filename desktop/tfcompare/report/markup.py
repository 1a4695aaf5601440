"""Text as the report's HTML and SVG carry it: escaped, and without bidirectional formatting
controls (see :mod:`tfcompare.bidi`), so no name can reorder the sentence it is part of."""

from __future__ import annotations

from html import escape

from tfcompare.bidi import without_bidi_controls


def html_text(value: object) -> str:
    """``value`` for HTML or SVG text and attribute values (quotes escaped too)."""
    return escape(without_bidi_controls(value))
