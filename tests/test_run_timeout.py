"""The Timeout setting reaches every request: the settings give the default, a backend's own timeout
wins. A backend that hangs (SIGSTOP) must fail after the setting's seconds, in the CLI and in the
window."""

from __future__ import annotations

import subprocess
import sys

import pytest
from gui_helpers import make_window, small_photos
from images import photo, save

from tfcompare.runner import Runner
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow


@pytest.fixture
def hung(fresh_backend):
    backend = fresh_backend(threads=1)
    backend.pause()
    yield backend
    backend.resume()


def test_settings_timeout_is_the_default_and_a_backend_timeout_wins(tmp_path):
    settings = RunSettings(timeout_s=2.5)
    own, default = Runner(
        [
            BackendSpec.parse("a=127.0.0.1:9/tiny", timeout_s=7),
            BackendSpec.parse("b=127.0.0.1:9/tiny"),
        ],
        settings,
    ).backends
    assert own.timeout_s == 7 and default.timeout_s == 2.5
    assert BackendSpec.parse("b=127.0.0.1:9/tiny").deadline_s == RunSettings().timeout_s


def test_cli_timeout_applies_to_a_hung_backend(hung, tmp_path):
    save(photo("chelsea"), tmp_path / "cat.jpg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(tmp_path / "cat.jpg"),
            "--backend",
            f"hung={hung.grpc}/tiny",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--repeats",
            "1",
            "--timeout",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = proc.stdout + proc.stderr
    assert "within 1.5 s" in text and proc.returncode != 0, text[-3000:]


def test_window_timeout_field_applies_to_a_hung_backend(qtbot, tmp_path, hung):
    window = make_window(qtbot)
    window.set_backends([BackendSpec.parse(f"hung={hung.grpc}/tiny")], persist=False)
    window.settings_panel.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), repeats=1))
    window.settings_panel.timeout.setValue(1.5)  # what a user types into the Timeout field
    window.controller.add_paths(small_photos(tmp_path / "img", names=("chelsea",)))
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    with qtbot.waitSignal(window.run_finished, timeout=25_000):
        assert window.start_run()
    result = window.store.result
    assert result.backends[0].timeout_s == 1.5
    shown = " ".join(
        window.backends_panel.list.item(i).text() for i in range(window.backends_panel.list.count())
    )
    errors = [r.error for r in result.requests if not r.ok]
    assert any("within 1.5 s" in e for e in errors) or "within 1.5 s" in shown, (errors, shown)
