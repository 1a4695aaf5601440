"""The window's menus and shortcuts: each action calls the controller, a dialog helper or a view.
``build_menus`` returns the actions that others refer to by name (e.g. ``"log"``, ``"export"``
menu for more export actions)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from tfcompare.gui.help import about, how_to_read, shortcuts
from tfcompare.gui.report_export import export_report
from tfcompare.gui.window_layout import cluster_available


def add_action(
    window: QMainWindow,
    menu: QMenu,
    text: str,
    slot,
    shortcut=None,
    tip: str = "",
    checkable: bool = False,
) -> QAction:
    """A menu action calling ``slot()``; a checkable action's slot gets the new state instead.

    ``QAction.triggered`` passes ``checked``; forwarding it blindly lands in whatever first
    parameter the slot has (a lambda's default argument, for one), so plain actions drop it.
    """
    action = QAction(text, window)
    action.setCheckable(checkable)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(
        lambda checked=False: slot(checked) if action.isCheckable() else slot()
    )
    menu.addAction(action)
    return action


def build_menus(w) -> dict:
    """Menus of ``w`` (a ``MainWindow``); returns the named actions and menus."""
    c, s, i = w.controller, w.sessions, w.inputs
    named: dict = {}
    bar = w.menuBar()

    file = bar.addMenu("&File")
    add_action(w, file, "&New session", s.new_session, QKeySequence.StandardKey.New)
    add_action(
        w,
        file,
        "&Add images…",
        i.add_images_dialog,
        QKeySequence.StandardKey.Open,
        "Add image files",
    )
    add_action(
        w, file, "Add image &folder…", i.add_folder_dialog, tip="Add every image in a folder"
    )
    file.addSeparator()
    add_action(w, file, "&Open session…", s.open_dialog, "Ctrl+Shift+O")
    recent = file.addMenu("Open &recent")
    recent.aboutToShow.connect(lambda: s.fill_recent_menu(recent))
    s.fill_recent_menu(recent)
    named["recent"] = recent
    add_action(w, file, "&Save session", s.save, QKeySequence.StandardKey.Save)
    add_action(w, file, "Save session &as…", s.save_as, QKeySequence.StandardKey.SaveAs)
    file.addSeparator()
    add_action(
        w,
        file,
        "&Compare with session…",
        s.compare_dialog,
        tip="Draw another session's latency over this one's (dashed)",
    )
    add_action(w, file, "Clear comparison overlay", s.clear_compare)
    file.addSeparator()
    # Ctrl+Q everywhere (Cmd+Q on macOS): some platforms' standard Quit binding is empty
    add_action(w, file, "&Quit", w.close, "Ctrl+Q")

    edit = bar.addMenu("&Edit")
    named["undo"] = add_action(
        w,
        edit,
        "&Undo removal",
        c.undo,
        QKeySequence.StandardKey.Undo,
        "Take the last removal of images or a backend back",
    )
    edit.aboutToShow.connect(lambda: named["undo"].setEnabled(c.can_undo))
    edit.addSeparator()
    add_action(w, edit, "&Paste image", i.paste, QKeySequence.StandardKey.Paste)
    add_action(
        w,
        edit,
        "&Copy results table",
        lambda: w.statusBar().showMessage(
            f"Copied {w.table.copy_all():,} rows of the results table.", 5000
        ),
        "Ctrl+Shift+T",
    )
    add_action(w, edit, "&Remove selected images", w.images_panel.remove_selected)
    add_action(w, edit, "Remove &all images", c.clear_images)

    backends = bar.addMenu("&Backends")
    add_action(w, backends, "&Add backend…", lambda: i.edit_backend(None), "Ctrl+B")
    named["cluster"] = add_action(
        w,
        backends,
        "Add from &cluster…",
        i.add_from_cluster,
        tip="Discover TF Serving services in Kubernetes",
    )
    named["cluster"].setVisible(cluster_available())
    add_action(w, backends, "&Edit selected…", lambda: _with_selected(w, i.edit_backend))
    add_action(w, backends, "Re&move selected", lambda: _with_selected(w, c.remove_backend))
    add_action(
        w,
        backends,
        "&Refresh status",
        w.refresh_status,
        "Ctrl+Shift+R",
        "Check every backend now; the status bar says how many and then what was found",
    )

    run = bar.addMenu("&Run")
    add_action(w, run, "&Run comparison", w.start_run, "Ctrl+R")
    add_action(w, run, "&Cancel", w.cancel_run, "Esc")
    run.addSeparator()
    add_action(
        w,
        run,
        "Start capacity &sweep",
        lambda: (w.tabs.setCurrentWidget(w.capacity), w.capacity.start_sweep()),
        "Ctrl+Shift+L",
    )
    add_action(w, run, "Cancel capacity sweep", w.capacity.cancel_sweep)

    view = bar.addMenu("&View")
    named["log"] = add_action(
        w, view, "&Log latency scale", w.set_log_scale, "Ctrl+L", checkable=True
    )
    named["log"].setChecked(w.latency.log)

    export = bar.addMenu("E&xport")
    named["export"] = export
    add_action(w, export, "Results as &JSON…", lambda: s.export_results("json"))
    add_action(w, export, "Results as CS&V…", lambda: s.export_results("csv"))
    add_action(
        w,
        export,
        "&Report (HTML)…",
        lambda: export_report(w),
        tip="The findings (resizing, format, size vs time, backends) as one HTML page",
    )
    # enabled while there is a sweep to export (MainWindow._on_capacity_changed)
    named["capacity_json"] = add_action(
        w, export, "Capacity sweep as JSON…", lambda: w.capacity.export("json")
    )
    named["capacity_csv"] = add_action(
        w, export, "Capacity sweep as CSV…", lambda: w.capacity.export("csv")
    )
    export.addSeparator()
    add_action(w, export, "Save &window screenshot (PNG)…", i.save_window_dialog, "F12")
    add_action(w, export, "&Copy window screenshot", i.copy_window, "Ctrl+Shift+C")
    export.addSeparator()
    charts = (
        ("Latency", w.latency),
        ("Top-5", w.top5),
        ("Quality", w.quality),
        ("Capacity", w.capacity.chart),
    )
    for name, chart in charts:
        sub = export.addMenu(f"{name} chart")
        add_action(w, sub, "Save as PNG…", lambda c=chart, n=name: i.save_chart_dialog(c, n, "png"))
        add_action(w, sub, "Save as SVG…", lambda c=chart, n=name: i.save_chart_dialog(c, n, "svg"))
        add_action(w, sub, "Copy to clipboard", lambda c=chart, n=name: i.copy_chart(c, n))

    help_ = bar.addMenu("&Help")
    add_action(w, help_, "&How to read the charts", lambda: how_to_read(w), "F1")
    add_action(w, help_, "&Keyboard shortcuts", lambda: shortcuts(w))
    add_action(w, help_, "&About tfcompare", lambda: about(w))
    return named


def _with_selected(w, fn) -> None:
    name = w.backends_panel.current_name()
    if name is None:
        w.statusBar().showMessage("Select a backend in the list first.", 5000)
    else:
        fn(name)
