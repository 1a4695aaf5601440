"""Start the window: ``run_gui`` is what ``tfcompare gui``, ``render`` and ``demo`` call."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


def ensure_app():
    """The QApplication (created once; offscreen when there is no display)."""
    if (
        not os.environ.get("QT_QPA_PLATFORM")
        and sys.platform.startswith("linux")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    # The runner's worker threads share the GIL with the GUI thread: hand it over every 1 ms
    # (default 5 ms) so redraws and input never queue behind a burst of results.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("tfcompare")
        app.setOrganizationName("tfcompare")
        _apply_style(app)
    return app


def _apply_style(app) -> None:
    from importlib import resources

    try:
        css = (
            resources.files("tfcompare.resources")
            .joinpath("gui/style.qss")
            .read_text(encoding="utf-8")
        )
    except (OSError, ModuleNotFoundError):
        return
    app.setStyleSheet(css)


def build_window(
    images: Sequence[str] = (),
    backends: list[BackendSpec] | None = None,
    *,
    settings: RunSettings | None = None,
    session: str | None = None,
    size: tuple[int, int] | None = None,
):
    """Create the main window with these inputs (shown by the caller)."""
    ensure_app()
    from tfcompare.gui.main_window import MainWindow

    window = MainWindow()
    if backends:
        window.set_backends(list(backends), persist=False)
    if settings is not None:
        window.settings_panel.set_settings(settings)
    if images:
        window.controller.add_paths(list(images))
    if session:
        window.sessions.open_session(session)
    if size:
        window.resize(*size)
    return window


def run_gui(
    images: list[str],
    backends: list[BackendSpec],
    *,
    settings: RunSettings | None = None,
    session: str | None = None,
    screenshot: str | None = None,
    size: tuple[int, int] | None = None,
    autorun: bool = False,
    on_close: Callable[[], None] | None = None,
    capacity=None,
) -> int:
    """Open the window and run the event loop; returns the exit code.

    ``screenshot``: render the window (after the run when ``autorun``), save the PNG and exit.
    ``capacity`` (a LoadPlan, variants): open on the Capacity tab with that sweep set up; with
    ``autorun`` the sweep runs instead of the comparison.
    """
    app = ensure_app()
    from PySide6.QtCore import QTimer

    from tfcompare.gui.screenshots import save_window_png
    from tfcompare.window.capacity import levels_text

    window = build_window(
        images,
        backends,
        settings=settings,
        session=session,
        size=size or ((1600, 1000) if screenshot else None),
    )
    status = {"code": 0}

    def shoot() -> None:
        if not screenshot:  # (scheduled only with one)
            return
        window.refresh_views(force=True)
        app.processEvents()
        try:
            save_window_png(window, screenshot)
            print(f"saved {screenshot} ({window.width()}×{window.height()})")
        except OSError as exc:
            print(f"tfcompare: could not save the screenshot: {exc}", file=sys.stderr)
            status["code"] = 1
        window.sessions.set_dirty(False)  # nothing to ask: this was an automated render
        window.close()

    sweeps = window.controller.capacity
    if capacity is not None:
        plan, variants = capacity
        window.tabs.setCurrentWidget(window.capacity)
        sweeps.set_fields(
            mode=plan.mode,
            levels=levels_text(plan.levels),
            variants=",".join(variants),
            window_s=plan.window_s,
            limit_ms=plan.latency_limit_ms,
        )
    finished = sweeps.events.finished if capacity is not None else window.run_finished
    if screenshot:
        if autorun:
            finished.connect(lambda _ended: QTimer.singleShot(300, shoot))
        else:
            QTimer.singleShot(300, shoot)
    if autorun:

        def start() -> None:
            started = window.capacity.start_sweep() if capacity is not None else window.start_run()
            if not started:
                if screenshot:
                    QTimer.singleShot(300, shoot)
                status["code"] = 1 if screenshot else status["code"]

        QTimer.singleShot(0, start)
    window.show()
    try:
        app.exec()
    finally:
        if on_close is not None:
            on_close()
    return status["code"]
