"""EfficientNet-Lite0 exported as a TF Serving SavedModel for the tests that serve it (built once
per session by ``tfcompare export-model`` in a process of its own), and the ImageNet classes its
answers on the sample photos must fall in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CATS = {"tabby", "tiger cat", "Egyptian cat"}


COFFEE = {"espresso", "cup", "coffee mug"}


def export_effnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TFCOMPARE_HOME holding the built model in ``data/models/efficientnet-lite0`` (built once)."""
    home = tmp_path_factory.getbasetemp() / "effnet-home"
    base = home / "data" / "models" / "efficientnet-lite0"
    if not (base / "1" / "saved_model.pb").is_file():
        env = {**os.environ, "TFCOMPARE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run(
            [sys.executable, "-m", "tfcompare", "export-model", "efficientnet-lite0", str(base)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert Path(proc.stdout.strip().splitlines()[-1]) == base / "1"
    return home
