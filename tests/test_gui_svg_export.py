"""Export → <chart> → Save as SVG draws what Save as PNG draws: markers as vector shapes (not
pyqtgraph's sprite sheet squashed into each point), axes as text and lines, and text in a font list
browsers resolve to sans-serif. Both files are rendered side by side in headless Chromium and
compared by colour coverage and a downscaled difference."""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser import Browser
from gui_helpers import find_action, make_window, settle, synthetic_session
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tfcompare.palette import PALETTE

CHARTS = ("Latency", "Quality", "Capacity")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def capacity_curves():
    from tfcompare.load.capacity_model import Curve, CurvePoint

    curves = []
    for i, backend in enumerate(("gpu", "cpu")):
        pts = tuple(
            CurvePoint(40.0 * c / (1 + i), 5.0 + c * (2 + 3 * i), f"c={c}", c < 8, c == 16)
            for c in (1, 2, 4, 8, 16)
        )
        curves.append(Curve(backend, "256-jpeg", pts, pts[2]))
    return curves


def exported(qtbot, tmp_path, monkeypatch, chart: str):
    window = make_window(qtbot)
    assert window.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    window.refresh_views(force=True)
    window.capacity.chart.update_curves(capacity_curves(), 60.0)
    settle()
    png, svg = tmp_path / f"{chart}.png", tmp_path / f"{chart}.svg"
    answers = iter([(str(png), ""), (str(svg), "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: next(answers))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a))
    find_action(window, "Export", f"{chart} chart", "Save as PNG…").trigger()
    find_action(window, "Export", f"{chart} chart", "Save as SVG…").trigger()
    assert warnings == []
    return png, svg


def side_by_side(browser, tmp_path, png, svg) -> tuple[np.ndarray, np.ndarray]:
    """The SVG and the PNG as Chromium draws them, each at its own size, as RGB arrays."""
    w, h = Image.open(png).size
    page = tmp_path / "both.html"
    page.write_text(
        '<html><body style="margin:0;background:#fff;display:flex;align-items:flex-start">'
        f'<img src="{svg.as_uri()}" style="display:block">'
        f'<img src="{png.as_uri()}" style="display:block"></body></html>'
    )
    load = browser.load(page, 2 * w + 10, h + 10)
    assert load.failed == [] and load.console_errors == []
    shown = np.asarray(Image.open(browser.screenshot(tmp_path / "both.png")).convert("RGB"))
    shown = shown.astype(float)
    return shown[:h, :w], shown[:h, w : 2 * w]


def coverage(img: np.ndarray, color: str) -> int:
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], float)
    return int((np.abs(img - rgb).sum(-1) < 60).sum())


def downscaled(img: np.ndarray, k: int = 8) -> np.ndarray:
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k, 3).mean((1, 3))


@pytest.mark.slow  # headless Chromium
@pytest.mark.parametrize("chart", CHARTS)
def test_svg_export_looks_like_the_png_export(qtbot, tmp_path, monkeypatch, browser, chart):
    png, svg = exported(qtbot, tmp_path, monkeypatch, chart)
    text = svg.read_text()
    assert "<image" not in text  # every marker, axis and label is vector: no bitmaps at all
    families = re.findall(r'font-family="([^"]*)"', text)
    assert families and all(f.rstrip().endswith("sans-serif") for f in families)
    drawn, expected = side_by_side(browser, tmp_path, png, svg)
    assert drawn.shape == expected.shape  # drawn at the PNG's size
    for color in PALETTE[:2]:  # each backend's colour covers the same area
        a, b = coverage(drawn, color), coverage(expected, color)
        assert b > 30 and abs(a - b) <= 0.2 * b + 10, (color, a, b)
    diff = np.abs(downscaled(drawn) - downscaled(expected))
    assert diff.mean() < 4 and np.percentile(diff, 99) < 40, (diff.mean(), np.percentile(diff, 99))
