"""Where tfcompare keeps the user's settings, built models and recent sessions.

``TFCOMPARE_HOME`` overrides everything (tests point it at a temporary directory so they never read
or write the user's real files); otherwise the platform's conventional directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "tfcompare"


def _home() -> Path | None:
    value = os.environ.get("TFCOMPARE_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    home = _home()
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    home = _home()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
