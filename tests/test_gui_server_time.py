"""The window shows where the time goes: server, model and path time in the table, the server's
share under each latency point, the path floor in the backend's status line, and the backend
dialog's metrics source."""

from __future__ import annotations

import pytest
from gui_helpers import make_window, small_photos
from PySide6.QtWidgets import QDialogButtonBox

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import METRICS_PATH
from tfcompare.settings import RunSettings

SETTINGS = RunSettings(sizes=(128,), formats=("jpeg",), warmup=1, repeats=2, concurrent=False)


def test_backend_dialog_sets_the_metrics_source(qtbot):
    from tfcompare.gui.backend_dialog import BackendDialog

    url = "http://10.0.0.5:9102/monitoring/prometheus/metrics"
    dialog = BackendDialog(None, BackendSpec("gpu", "10.0.0.5:8500", metrics=url))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.metrics.text() == url and dialog.spec().metrics == url
    dialog.metrics.setText("off")
    assert ok.isEnabled() and dialog.spec().metrics == "off"
    dialog.metrics.setText("ftp://10.0.0.5/metrics")
    assert not ok.isEnabled() and "http" in dialog.error.text()
    dialog.metrics.setText("")
    assert ok.isEnabled() and dialog.spec().metrics is None  # found on the REST port


@pytest.mark.slow
def test_window_shows_the_split(qtbot, tmp_path, backend_pair):
    two = backend_pair.two
    window = make_window(qtbot)
    specs = [
        BackendSpec("grpc", two.grpc, model="tiny", metrics=f"http://{two.rest}{METRICS_PATH}"),
        BackendSpec("plain", backend_pair.one.grpc, model="tiny", metrics="off"),
    ]
    window.set_backends(specs, persist=False)
    window.settings_panel.set_settings(SETTINGS)
    window.controller.add_paths(small_photos(tmp_path / "img"))
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    with qtbot.waitSignal(window.run_finished, timeout=90_000):
        assert window.start_run()

    from tfcompare.gui.results_table import COLUMNS

    keys = [k for k, _ in COLUMNS]
    model = window.table.model
    rows = {(a.variant, a.backend): r for r, a in enumerate(model.rows)}
    assert rows
    for (_variant, backend), row in rows.items():
        texts = [
            model.index(row, keys.index(k)).data() for k in ("server_ms", "runtime_ms", "path_ms")
        ]
        if backend == "grpc":
            assert all(t != "—" and not t.startswith("~") for t in texts), texts
            assert float(texts[0]) > float(texts[1]) > 0  # the model run is part of the request
        else:
            assert texts == ["—", "—", "—"]
    xs, ys = window.latency._server["grpc"].getData()
    assert len(xs) and max(ys) > 0
    assert not len(window.latency._server["plain"].getData()[0] or ())
    line = window.backends_panel.entry_text("grpc")
    assert "path floor" in line and "ms" in line, line
    assert "server metrics off" in window.backends_panel.entry_text("plain")


def test_store_shows_server_time_while_the_run_goes_on():
    """Live: a block's server time reaches its aggregate as soon as it is measured (the table and
    chart need not wait for the end of the run); the floor reaches the backend's status."""
    from tfcompare.results import BackendTiming, RequestResult, ServerTime
    from tfcompare.runner.events import RequestDone, ServerTimeMeasured, TimingUpdated
    from tfcompare.window.result_store import ResultStore

    store = ResultStore()
    for i, latency in enumerate((10.0, 12.0)):
        store.apply(
            RequestDone(
                0,
                RequestResult(
                    image="a.jpg",
                    variant="original",
                    backend="gpu",
                    protocol="grpc",
                    phase="measured",
                    repeat=i,
                    ok=True,
                    latency_ms=latency,
                    client_ms=0.1,
                    bytes=100,
                    model_version=1,
                    error=None,
                ),
            )
        )
    store.refresh()
    assert store.aggregate_for("a.jpg", "original", "gpu").server_ms is None
    store.apply(
        ServerTimeMeasured(
            0,
            ServerTime(
                "a.jpg",
                "original",
                "gpu",
                sent=2,
                counted=2,
                server_ms=8.0,
                runtime_ms=6.5,
                exact=True,
            ),
        )
    )
    store.apply(
        TimingUpdated(
            0,
            BackendTiming(
                "gpu",
                floor_ms=0.42,
                floor_samples=5,
                metrics="http://h:8501/m",
                metrics_message="m",
            ),
        )
    )
    changes = store.refresh()
    agg = store.aggregate_for("a.jpg", "original", "gpu")
    assert changes.aggregates and changes.backends
    assert (agg.server_ms, agg.runtime_ms, agg.path_ms, agg.server_exact) == (8.0, 6.5, 3.0, True)
    assert store.cells()[("original", "gpu")].server_ms == 8.0
    assert store.timings["gpu"].short == "path floor 0.42 ms"
