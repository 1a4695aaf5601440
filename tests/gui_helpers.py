"""Helpers for the window tests: a MainWindow that closes without questions, small real photos,
drop events carrying file URLs (what a file manager sends), menu actions by path, and letting
the window settle after a change."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def small_photos(folder: Path, names=("chelsea", "coffee"), longest: int = 300) -> list[Path]:
    """Real photos (scikit-image) shrunk so runs stay fast; JPEG files in ``folder``."""
    from images import photo

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        img = photo(name)
        img.thumbnail((longest, longest))
        path = folder / f"{name}.jpg"
        img.save(path, "JPEG", quality=90)
        out.append(path)
    return out


def drop_event(paths: list[Path | str]) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    event._mime = mime  # keep the data alive as long as the event
    return event


def settle() -> None:
    """Let the window finish what its last change set in motion — posted events (layout
    requests, resizes, repaints) and zero-delay timers (label placement, legend fitting) — by
    running the event loop until they are handled, without waiting for a fixed time."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    for _ in range(5):  # what one round handles may post more (a resize, then its layout)
        QCoreApplication.sendPostedEvents()
        app.processEvents()


def show_sized(qtbot, widget, width: int, height: int):
    """``widget`` on screen (offscreen) at this size, closed with the test."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def find_action(window, *path: str):
    """The action at menu path ``("Export", "Latency chart", "Save as PNG…")`` (mnemonics ignored)."""
    menu_actions = window.menuBar().actions()
    for depth, name in enumerate(path):
        for action in menu_actions:
            if action.text().replace("&", "") == name:
                break
        else:
            names = [a.text() for a in menu_actions]
            raise AssertionError(f"no action {name!r} in {names}")
        if depth < len(path) - 1:
            menu_actions = action.menu().actions()
    return action


def make_window(qtbot, **kwargs):
    from tfcompare.gui.main_window import MainWindow

    window = MainWindow(**kwargs)
    qtbot.addWidget(window, before_close_func=discard)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def discard(window) -> None:
    """Close without the "unsaved results" question (the tests that need it ask it themselves)."""
    window.sessions.dirty = False
    if window.running:
        window.cancel_run()
        window.controller.wait(5)


DENSE_KEYS = ("original", "512-jpeg", "512-png", "256-jpeg", "256-png", "128-jpeg", "128-png")


def synthetic_session(
    path: Path,
    scale: float = 1.0,
    sizes: tuple[tuple[int, int], ...] = ((320, 240), (320, 240)),
    backend_names: tuple[str, ...] = ("gpu", "cpu"),
    keys: tuple[str, ...] = ("original", "256-jpeg", "128-png"),
) -> Path:
    """A saved comparison of two small images (``sizes``, in pixels) × three variants × two
    backends (real aggregates, no backend needed): what the window shows after a run, for tests
    of its actions. With ``backend_names`` and ``keys`` (e.g. ``DENSE_KEYS``) as many as the demo
    shows."""
    import io

    from PIL import Image

    from tfcompare.imaging.values import ImageInfo, Variant
    from tfcompare.results import RequestResult, RunResult
    from tfcompare.runner.aggregates import aggregate
    from tfcompare.serving.answers import Prediction
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.session import save_session
    from tfcompare.settings import RunSettings

    backends = tuple(
        BackendSpec(name, f"127.0.0.1:{i + 1}", model="tiny")
        for i, name in enumerate(backend_names)
    )
    step = 0.1 if len(keys) <= 3 else 0.5 / len(keys)  # the original's top-1 score fades
    images, requests = [], []
    for i, name in enumerate(("cat.jpg", "dog.jpg")):
        width, height = sizes[i]
        buf = io.BytesIO()
        Image.new("RGB", (width, height), (40 + 80 * i, 90, 140)).save(buf, "JPEG")
        variants = tuple(
            Variant(
                k,
                None if k == "original" else int(k.split("-")[0]),
                "png" if "png" in k else "jpeg",
                None,
                width >> j,
                height >> j,
                30_000 >> j,
                1.0,
                b"",
            )
            for j, k in enumerate(keys)
        )
        images.append(
            ImageInfo(
                name, None, "jpeg", width, height, len(buf.getvalue()), variants, (), buf.getvalue()
            )
        )
        for b, spec in enumerate(backends):
            for j, key in enumerate(keys):
                for rep in range(3):
                    top = (
                        ("tabby", 0.6 - step * j),
                        ("tiger cat", 0.2),
                        ("lynx", 0.1),
                        ("fox", 0.05),
                        ("cup", 0.01),
                    )
                    requests.append(
                        RequestResult(
                            name,
                            key,
                            spec.name,
                            "grpc",
                            "measured",
                            rep,
                            True,
                            (5.0 + 10 * b + j + 0.3 * rep) * scale,
                            0.1,
                            (30_000 >> j) * (4 if b == 2 else 3) // 3,  # a third sends base64
                            1,
                            None,
                            tuple(Prediction(lbl, s) for lbl, s in top),
                            "probability",
                        )
                    )
    result = RunResult(
        RunSettings(sizes=(256, 128)),
        backends,
        tuple(images),
        tuple(requests),
        (),
        aggregate(requests),
    )
    save_session(path, result)
    return path


def prepared_window(qtbot, backend_pair, tmp_path):
    """A window on its Capacity tab, one photo and the two backends of ``backend_pair``, set up
    for a sweep of the original at 0.3 s windows and no latency limit (levels left to the test)."""
    from tfcompare.serving.backend_spec import BackendSpec

    window = make_window(qtbot)
    window.controller.add_paths(small_photos(tmp_path / "photos", names=("chelsea",)))
    window.set_backends(
        [
            BackendSpec("one", backend_pair.one.grpc, model="tiny"),
            BackendSpec("two", backend_pair.two.grpc, model="tiny"),
        ],
        persist=False,
    )
    find_action(window, "Run", "Start capacity sweep")  # the menu offers it
    window.tabs.setCurrentWidget(window.capacity)
    panel = window.capacity
    panel.variants.setText("original")
    panel.window_s.setValue(0.3)
    panel.limit.setValue(0)  # no limit: every level runs
    return window, panel
