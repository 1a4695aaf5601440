"""A backend named with an unterminated RIGHT-TO-LEFT OVERRIDE (U+202E) must not reverse the rest
of the sentences it is part of — other backends' names and the figures — in the findings report
(as real Chromium draws it) or in the window (as Qt gets it)."""

from __future__ import annotations

import pytest
from browser import Browser
from named_sessions import named_session

from tfcompare.bidi import BIDI_CONTROLS, without_bidi_controls
from tfcompare.report import write_report

RLO = "\u202e"

# the x position of each character of the first occurrence of ``needle`` in an element's text, as
# drawn: in reading order the positions grow from left to right
_POSITIONS = """
((selector, needle) => {
  const root = document.querySelector(selector);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    const at = node.data.indexOf(needle);
    if (at < 0) continue;
    return [...needle].map((_, k) => {
      const range = document.createRange();
      range.setStart(node, at + k);
      range.setEnd(node, at + k + 1);
      return range.getBoundingClientRect().left;
    });
  }
  return null;
})
"""


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def test_without_bidi_controls_keeps_letters_of_every_script():
    assert without_bidi_controls(f"gpu{RLO}-1\u2066x\u2069\u200f") == "gpu-1x"
    assert without_bidi_controls("שרת-גרפי مخدم") == "שרת-גרפי مخدم"
    assert not any(c in without_bidi_controls(BIDI_CONTROLS * 3) for c in BIDI_CONTROLS)


@pytest.mark.slow  # headless Chromium
def test_report_figures_after_an_overriding_name_still_read_in_order(tmp_path, browser):
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import load_session

    saved = load_session(named_session(tmp_path / "rlo.tfcs", backends=(f"gpu{RLO}", "cpu")))
    page = tmp_path / "rlo.html"
    write_report(page, saved.result, capacity=capacity_of(saved), title=f"weekly{RLO} run 12.5")
    browser.load(page)
    checks = [
        # the second backend's figures in the resizing verdict, after the first's name
        ("#resizing p.verdict", "25.3 vs 23.0"),
        # the capacity sentence: "gpu sustains the most … (400.0 req/s, 2.00× the next)"
        ("#backends p.verdict", "2.00× the next"),
        # the page's title
        ("h1", "run 12.5"),
    ]
    drawn = {}
    for selector, needle in checks:
        xs = browser.evaluate(f"{_POSITIONS}({selector!r}, {needle!r})")
        assert xs, (selector, needle)
        drawn[needle] = xs == sorted(xs) and xs[0] < xs[-1]
    assert all(drawn.values()), drawn  # every one reads left to right
    assert RLO not in page.read_text()


def test_the_window_shows_names_without_their_overrides(tmp_path, qtbot, monkeypatch):
    from gui_helpers import make_window
    from PySide6.QtWidgets import QFileDialog

    session = named_session(
        tmp_path / "rlo.tfcs",
        backends=(f"gpu{RLO}", "cpu"),
        images=(f"cat{RLO}.jpg", "dog.jpg"),
    )
    window = make_window(qtbot)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(session), ""))
    window.sessions.open_dialog()
    shown = [window.statusBar().currentMessage(), window.windowTitle()]
    table = window.table.model  # the results table
    shown += [
        str(table.data(table.index(r, c)))
        for r in range(table.rowCount())
        for c in range(table.columnCount())
    ]
    panel = window.backends_panel.list
    shown += [panel.item(i).text() for i in range(panel.count())]
    shown += [panel.item(i).toolTip() for i in range(panel.count())]
    shown += [window.image_combo.itemText(i) for i in range(window.image_combo.count())]
    cap = window.capacity
    cap._on_results_changed()
    shown += [
        cap.table.item(r, c).text()
        for r in range(cap.table.rowCount())
        for c in range(cap.table.columnCount())
    ]
    shown.append(cap.equivalents.text())
    text = "\n".join(shown)
    assert "gpu" in text and "cat" in text  # the names are there…
    assert RLO not in text  # …without the override


@pytest.mark.slow  # headless Chromium
def test_a_very_long_name_wraps_inside_the_page(tmp_path, browser):
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import load_session

    long_name = "gpu-" + "x" * 240
    saved = load_session(named_session(tmp_path / "long.tfcs", backends=(long_name, "cpu")))
    page = tmp_path / "long.html"
    write_report(page, saved.result, capacity=capacity_of(saved), title="t" * 300)
    for width in (1200, 800):
        browser.load(page, width=width)
        assert browser.evaluate("document.documentElement.scrollWidth") <= width
    legend = browser.evaluate(
        "[...document.querySelectorAll('svg text title')].map(t => t.textContent)"
    )
    assert long_name in legend  # the whole name, where the legend shows it shortened
