"""One backend = one colour, everywhere and every time: the window (charts, legend, table, backends
list), ``tfcompare render`` and the findings report all take a backend's colour from its place in
the comparison's own order, whatever the window remembered from earlier sessions; the legend keeps
that order through a removal and its undo."""

from __future__ import annotations

from cli_inprocess import run_tfcompare
from gui_helpers import find_action, make_window, synthetic_session
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from tfcompare.gui.prefs import Prefs, save_prefs
from tfcompare.palette import PALETTE
from tfcompare.serving.backend_spec import BackendSpec

BLUE, ORANGE, GREEN = PALETTE[:3]


def remember_other_backends() -> None:
    """The window remembers six backends of an earlier comparison (they took colours first)."""
    names = ("old-a", "old-b", "gpu-x", "old-d", "old-e", "old-f")
    save_prefs(Prefs(backends=[BackendSpec(n, f"127.0.0.1:{i + 1}") for i, n in enumerate(names)]))


def legend(chart) -> list[tuple[str, str]]:
    """(label text, colour) of each legend entry, in the legend's order."""
    out = []
    for sample, label in chart.legend.items:
        item = sample.item
        opts = item.opts
        brush = opts.get("symbolBrush", opts.get("brush"))
        color = QColor(brush.color() if hasattr(brush, "color") else brush)
        out.append((label.text, color.name().upper()))
    return out


def panel_swatch(window, row: int) -> str:
    icon = window.backends_panel.list.item(row).icon()
    return icon.pixmap(34, 16).toImage().pixelColor(5, 8).name().upper()


def table_swatch(window, backend: str) -> str:
    model = window.table.model
    row = next(i for i, a in enumerate(model.rows) if a.backend == backend)
    col = next(
        c for c in range(model.columnCount()) if model.headerData(c, Qt.Horizontal) == "Backend"
    )
    return model.data(model.index(row, col), Qt.ItemDataRole.DecorationRole).name().upper()


def test_a_reopened_session_takes_its_own_order_not_the_remembered_backends(qtbot, tmp_path):
    remember_other_backends()
    session = synthetic_session(tmp_path / "b.tfcs")  # backends gpu, cpu (in that order)
    window = make_window(qtbot)
    assert window.sessions.open_session(session)
    window.refresh_views(force=True)
    for chart in (window.latency, window.quality):
        assert legend(chart) == [("gpu", BLUE), ("cpu", ORANGE)]
    assert [panel_swatch(window, r) for r in (0, 1)] == [BLUE, ORANGE]
    assert (table_swatch(window, "gpu"), table_swatch(window, "cpu")) == (BLUE, ORANGE)
    bars = {b: QColor(bar.opts["brush"]).name().upper() for b, bar in window.top5._bars.items()}
    assert bars == {"gpu": BLUE, "cpu": ORANGE}


def test_a_lone_backend_in_a_fresh_window_is_blue(qtbot):
    remember_other_backends()
    window = make_window(qtbot)
    window.set_backends([BackendSpec("only", "127.0.0.1:9")], persist=False)
    assert legend(window.latency) == [("only", BLUE)]
    assert panel_swatch(window, 0) == BLUE


def test_remove_and_undo_keep_the_legend_order_and_colours_and_the_saved_order(qtbot, tmp_path):
    from tfcompare.session import load_session

    window = make_window(qtbot)
    assert window.sessions.open_session(synthetic_session(tmp_path / "s.tfcs"))
    window.refresh_views(force=True)
    window.backends_panel.list.setCurrentRow(0)
    find_action(window, "Backends", "Remove selected").trigger()
    window.refresh_views(force=True)
    assert legend(window.latency) == [("cpu", BLUE)]  # the session's order now: cpu first
    find_action(window, "Edit", "Undo removal").trigger()
    window.refresh_views(force=True)
    for chart in (window.latency, window.quality):
        assert legend(chart) == [("gpu", BLUE), ("cpu", ORANGE)]
    assert window.sessions.save_to(tmp_path / "again.tfcs")
    saved = load_session(tmp_path / "again.tfcs").result
    assert [b.name for b in saved.backends] == ["gpu", "cpu"]


def test_render_and_report_draw_each_backend_in_the_windows_colour(qapp, tmp_path):
    from tfcompare.report import build_report
    from tfcompare.session import load_session

    remember_other_backends()
    session = synthetic_session(tmp_path / "b.tfcs")
    out = tmp_path / "shot.png"
    proc = run_tfcompare("render", session, "--out", out, "--size", "1280x800")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shot = QImage(str(out))
    counts = {c: 0 for c in PALETTE if c != "#7F7F7F"}  # (grey is also the interface's)
    for y in range(0, shot.height(), 2):
        for x in range(0, shot.width(), 2):
            name = shot.pixelColor(x, y).name().upper()
            if name in counts:
                counts[name] += 1
    assert counts[BLUE] > 50 and counts[ORANGE] > 50, counts
    assert sum(n for c, n in counts.items() if c not in (BLUE, ORANGE)) == 0, counts

    page = build_report(load_session(session).result).html()
    fills = _fills(page)
    assert fills == {"gpu": BLUE, "cpu": ORANGE}, fills


def _fills(page: str) -> dict[str, str]:
    """Backend → the fill of its bars in the report's charts (every bar of one backend alike)."""
    import re

    found: dict[str, set[str]] = {}
    for fill, name in re.findall(r'fill="(#[0-9A-Fa-f]{6})"[^>]*><title>([^:<]+):', page):
        found.setdefault(name, set()).add(fill.upper())
    assert all(len(v) == 1 for v in found.values()), found
    return {k: v.pop() for k, v in found.items() if k in ("gpu", "cpu")}
