"""What the window remembers between launches: layout, backends, settings, recent sessions.

A small JSON file under ``tfcompare.paths.config_dir()`` (so ``TFCOMPARE_HOME`` keeps tests away
from the user's files). Auth headers are deliberately not stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tfcompare.paths import config_dir
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

MAX_RECENT = 10


def prefs_path() -> Path:
    return config_dir() / "gui.json"


@dataclass
class Prefs:
    geometry: str = ""  # hex of QWidget.saveGeometry()
    state: str = ""  # hex of QMainWindow.saveState()
    splitters: dict[str, str] = field(default_factory=dict)
    backends: list[BackendSpec] = field(default_factory=list)
    settings: RunSettings = field(default_factory=RunSettings)
    recent: list[str] = field(default_factory=list)
    log_scale: bool = False
    last_dir: str = ""
    export_dir: str = ""  # where the last export went (every export dialog starts there)

    def add_recent(self, path: str) -> None:
        path = str(Path(path).absolute())
        self.recent = [path] + [p for p in self.recent if p != path]
        del self.recent[MAX_RECENT:]

    def to_dict(self) -> dict:
        return {
            "geometry": self.geometry,
            "state": self.state,
            "splitters": self.splitters,
            "backends": [b.to_dict() for b in self.backends],
            "settings": self.settings.to_dict(),
            "recent": self.recent,
            "log_scale": self.log_scale,
            "last_dir": self.last_dir,
            "export_dir": self.export_dir,
        }


def load_prefs() -> Prefs:
    """The saved preferences; defaults when there are none or the file is unreadable."""
    try:
        raw = json.loads(prefs_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Prefs()
    prefs = Prefs()
    try:
        prefs.geometry = str(raw.get("geometry", ""))
        prefs.state = str(raw.get("state", ""))
        prefs.splitters = {str(k): str(v) for k, v in dict(raw.get("splitters", {})).items()}
        prefs.backends = [BackendSpec.from_dict(d) for d in raw.get("backends", [])]
        prefs.settings = RunSettings.from_dict(raw.get("settings", {}))
        prefs.recent = [str(p) for p in raw.get("recent", [])][:MAX_RECENT]
        prefs.log_scale = bool(raw.get("log_scale", False))
        prefs.last_dir = str(raw.get("last_dir", ""))
        prefs.export_dir = str(raw.get("export_dir", ""))
    except (KeyError, TypeError, ValueError, AttributeError):
        return Prefs()
    return prefs


def save_prefs(prefs: Prefs) -> None:
    path = prefs_path()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(prefs.to_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, path)
