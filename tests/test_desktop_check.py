"""`tfcompare gui` / `demo` where Qt cannot open a window: a clear message naming what to install,
exit status 1, no Qt abort, and no demo backend left running."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tfcompare.desktop_check import package_of

PACKAGES = "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"


def _tfcompare(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environ.update(TFCOMPARE_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="xcb", **env)
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_debian_package_names_from_sonames():
    assert [
        package_of(s)
        for s in (
            "libxcb-icccm.so.4",
            "libxkbcommon-x11.so.0",
            "libX11-xcb.so.1",
            "libdbus-1.so.3",
            "libEGL.so.1",
        )
    ] == ["libxcb-icccm4", "libxkbcommon-x11-0", "libx11-xcb1", "libdbus-1-3", "libegl1"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux only")
@pytest.mark.slow  # Qt fails to start in a process of its own
def test_gui_without_a_platform_plugin_says_what_to_do(tmp_path):
    empty = tmp_path / "plugins"
    empty.mkdir()
    proc = _tfcompare("gui", tmp_path=tmp_path, QT_QPA_PLATFORM_PLUGIN_PATH=str(empty))
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "cannot open the window" in proc.stderr and "'xcb'" in proc.stderr
    assert "PySide6-Essentials" in proc.stderr and str(empty) in proc.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux only")
@pytest.mark.slow  # Qt fails to start in a process of its own
def test_gui_and_demo_without_display_or_libraries_name_the_packages(tmp_path):
    for command in ("gui", "demo"):
        proc = _tfcompare(command, tmp_path=tmp_path)
        assert proc.returncode == 1, (command, proc.returncode, proc.stderr[-2000:])
        assert f"tfcompare {command}: cannot open the window" in proc.stderr
        assert all(p in proc.stderr for p in PACKAGES.split()), proc.stderr
        assert "Traceback" not in proc.stderr and "Aborted" not in proc.stderr
    assert "backends ready" not in proc.stderr  # the demo checked before starting any backend
    assert "--no-gui" in proc.stderr
