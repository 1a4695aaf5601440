"""The window's menus and shortcuts (kept apart from the layout so both stay readable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tfcompare.gui.export import copy_image, grab_window, save_image
from tfcompare.gui.report_export import export_report

if TYPE_CHECKING:
    from tfcompare.gui.main_window import MainWindow


def _action(window: MainWindow, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    """A menu action calling ``slot()``; a checkable action's slot gets the new state instead.

    ``QAction.triggered`` passes ``checked``; forwarding it blindly lands in whatever first
    parameter the slot has (a lambda's default argument, for one), so plain actions drop it.
    """
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda checked=False: slot(checked) if action.isCheckable() else slot())
    menu.addAction(action)
    return action


def build_menus(w: MainWindow, cluster: bool) -> None:
    s = w.sessions
    bar = w.menuBar()
    file = bar.addMenu("&File")
    _action(w, file, "&New session", s.new_session, QKeySequence.StandardKey.New)
    _action(
        w,
        file,
        "&Add images…",
        lambda: add_images_dialog(w),
        QKeySequence.StandardKey.Open,
        "Add image files or folders",
    )
    _action(w, file, "Add image &folder…", lambda: add_folder_dialog(w))
    file.addSeparator()
    _action(w, file, "&Open session…", s.open_dialog, "Ctrl+Shift+O")
    w.recent_menu = file.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(s.fill_recent_menu)
    s.fill_recent_menu()
    _action(w, file, "&Save session", s.save, QKeySequence.StandardKey.Save)
    _action(w, file, "Save session &as…", s.save_as, QKeySequence.StandardKey.SaveAs)
    file.addSeparator()
    _action(
        w, file, "&Compare with session…", s.compare_dialog, tip="Overlay another session's latency"
    )
    _action(w, file, "Clear comparison overlay", s.clear_compare)
    file.addSeparator()
    _action(w, file, "Export results as &JSON…", lambda: s.export_results("json"))
    _action(w, file, "Export results as CS&V…", lambda: s.export_results("csv"))
    _action(w, file, "Export &report…", lambda: export_report(w),
            tip="The findings (resizing, format, size vs time, backends) as one HTML page")
    _action(w, file, "Export capacity sweep as JSON…", lambda: w.capacity.export("json"))
    _action(w, file, "Export capacity sweep as CSV…", lambda: w.capacity.export("csv"))
    file.addSeparator()
    _action(w, file, "&Quit", w.close, QKeySequence.StandardKey.Quit)

    edit = bar.addMenu("&Edit")
    _action(w, edit, "&Paste image", w.paste, QKeySequence.StandardKey.Paste)
    _action(w, edit, "&Copy results table", w.table.copy, "Ctrl+Shift+T")
    _action(w, edit, "&Remove selected images", w.images_panel.remove_selected)
    _action(w, edit, "Remove &all images", w.images_panel.clear)

    backends = bar.addMenu("&Backends")
    _action(w, backends, "&Add backend…", lambda: w.edit_backend(None), "Ctrl+B")
    w.cluster_action = _action(
        w,
        backends,
        "Add from &cluster…",
        w.add_from_cluster,
        tip="Discover TF Serving services in Kubernetes",
    )
    w.cluster_action.setVisible(cluster)
    _action(w, backends, "&Refresh status", w.poller.poll, "Ctrl+Shift+R")

    run = bar.addMenu("&Run")
    _action(w, run, "&Run comparison", w.start_run, "Ctrl+R")
    _action(w, run, "&Cancel", w.cancel_run, "Esc")
    run.addSeparator()
    w.sweep_action = _action(w, run, "Start capacity &sweep", lambda: (
        w.tabs.setCurrentWidget(w.capacity), w.capacity.start_sweep()), "Ctrl+Shift+L")
    _action(w, run, "Cancel capacity sweep", w.capacity.cancel_sweep)

    view = bar.addMenu("&View")
    w.log_action = _action(w, view, "&Log latency scale", lambda on: w.set_log_scale(on), "Ctrl+L")
    w.log_action.setCheckable(True)
    w.log_action.setChecked(w.latency.log)

    shots = bar.addMenu("E&xport")
    _action(w, shots, "Save &window screenshot (PNG)…", lambda: save_window_dialog(w), "F12")
    _action(w, shots, "&Copy window screenshot", lambda: copy_image(grab_window(w)), "Ctrl+Shift+C")
    shots.addSeparator()
    charts = (("Latency", w.latency), ("Top-5", w.top5), ("Quality", w.quality),
              ("Capacity", w.capacity.chart))
    for name, chart in charts:
        sub = shots.addMenu(f"{name} chart")
        _action(w, sub, "Save as PNG…", lambda c=chart, n=name: save_chart_dialog(w, c, n, "png"))
        _action(w, sub, "Save as SVG…", lambda c=chart, n=name: save_chart_dialog(w, c, n, "svg"))
        _action(w, sub, "Copy to clipboard", lambda c=chart: copy_image(c.grab_image()))

    help_ = bar.addMenu("&Help")
    _action(w, help_, "&About tfcompare", lambda: about(w))


def add_images_dialog(w: MainWindow) -> None:
    paths, _ = QFileDialog.getOpenFileNames(
        w,
        "Add images",
        w.prefs.last_dir,
        "Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff *.gif);;All files (*)",
    )
    if paths:
        w.prefs.last_dir = str(__import__("pathlib").Path(paths[0]).parent)
        w.images_panel.add_paths(paths)


def add_folder_dialog(w: MainWindow) -> None:
    folder = QFileDialog.getExistingDirectory(w, "Add a folder of images", w.prefs.last_dir)
    if folder:
        w.prefs.last_dir = folder
        n = w.images_panel.add_paths([folder])
        w.statusBar().showMessage(f"Added {n} image{'s' if n != 1 else ''} from {folder}.", 5000)


def save_window_dialog(w: MainWindow) -> None:
    path, _ = QFileDialog.getSaveFileName(
        w, "Save window screenshot", "tfcompare.png", "PNG image (*.png)"
    )
    if path:
        try:
            save_image(grab_window(w), path)
        except OSError as exc:
            QMessageBox.warning(w, "Screenshot", str(exc))
            return
        w.statusBar().showMessage(f"Saved {path}", 5000)


def save_chart_dialog(w: MainWindow, chart, name: str, kind: str) -> None:
    filt = "PNG image (*.png)" if kind == "png" else "SVG drawing (*.svg)"
    path, _ = QFileDialog.getSaveFileName(w, f"Save {name} chart", f"{name.lower()}.{kind}", filt)
    if not path:
        return
    try:
        chart.export_png(path) if kind == "png" else chart.export_svg(path)
    except Exception as exc:  # exporter errors (disk full, permissions) become a message
        QMessageBox.warning(w, "Export", f"Could not write {path}: {exc}")
        return
    w.statusBar().showMessage(f"Saved {path}", 5000)


def about(w: MainWindow) -> None:
    from tfcompare import __version__

    QMessageBox.about(
        w,
        "About tfcompare",
        f"<b>tfcompare {__version__}</b><p>Compare TensorFlow Serving backends on your own images: "
        "latency, top-5 and how much quality each resized or re-encoded variant keeps.</p>",
    )
