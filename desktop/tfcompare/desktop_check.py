"""Can Qt open a window here? Checked before Qt is started, because Qt ends the whole process
(SIGABRT) when its platform plugin cannot load, with a message that does not say what to install.

On Linux the window uses Qt's ``xcb`` plugin, which needs a few X11 libraries that minimal systems
lack. This module finds the missing ones (``ldd`` on the plugin, or the loader's own error) and names
the Debian/Ubuntu packages that provide them. Plain Python: no Qt is imported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# What Qt 6's xcb plugin needs beyond a desktop's usual libraries (Debian/Ubuntu package names).
PACKAGES = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libegl1",
    "libfontconfig1",
    "libdbus-1-3",
)
NO_WINDOW_PLATFORMS = {"offscreen", "minimal", "vnc"}


def package_of(soname: str) -> str:
    """``libxcb-icccm.so.4`` → ``libxcb-icccm4`` (Debian names libraries after their soname)."""
    name, _, version = soname.partition(".so.")
    name = name.lower()
    if not version:
        return name
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _plugin_dirs() -> list[Path]:
    env = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    try:
        import PySide6  # the package only (light): where its Qt plugins are
    except ImportError:
        return []
    return [Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"]


def missing_libraries(plugin: Path) -> list[str]:
    """Shared libraries the plugin needs that the dynamic loader cannot find."""
    if shutil.which("ldd"):
        try:
            out = subprocess.run(
                ["ldd", str(plugin)], capture_output=True, text=True, timeout=20
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        missing = re.findall(r"^\s*(\S+) => not found", out, re.M)
        return list(dict.fromkeys(missing))
    import ctypes

    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        found = re.match(r"^(\S+\.so[.\d]*): cannot open shared object file", str(exc))
        return [found[1]] if found else []
    return []


def _advice(missing: list[str]) -> str:
    needed = " ".join(dict.fromkeys([*(package_of(s) for s in missing), *PACKAGES]))
    return f"The window needs these system packages (Debian/Ubuntu): sudo apt-get install {needed}"


def window_problem() -> str | None:
    """Why Qt cannot open a window on this machine (what to install or set), or None."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip()
    if platform in NO_WINDOW_PLATFORMS or platform not in ("", "xcb"):
        return None  # offscreen renders, wayland/eglfs/…: the user chose; Qt reports its own
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    plugin = next((d / "libqxcb.so" for d in _plugin_dirs() if (d / "libqxcb.so").is_file()), None)
    if plugin is None:
        where = ", ".join(str(d) for d in _plugin_dirs()) or "(PySide6 is not installed)"
        return (
            f"Qt's platform plugin 'xcb' (libqxcb.so) is not in {where}: reinstall "
            "PySide6-Essentials (pip install --force-reinstall PySide6-Essentials), or unset "
            "QT_QPA_PLATFORM_PLUGIN_PATH."
        )
    missing = missing_libraries(plugin)
    if missing:
        return (
            f"Qt's platform plugin 'xcb' cannot load: {', '.join(missing)} not found. "
            + _advice(missing)
        )
    if not os.environ.get("DISPLAY"):
        return (
            "there is no X display to open the window on (DISPLAY is not set): run it in a "
            "desktop session (or through ssh -X), or use QT_QPA_PLATFORM=offscreen for "
            "screenshots. " + _advice([])
        )
    return None
