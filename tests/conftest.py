"""Shared test setup: offscreen Qt, and user directories redirected to a temporary folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Settings, built models and recent files go to a temporary folder, never the user's own."""
    home = tmp_path_factory.mktemp("tfcompare-home")
    monkeypatch.setenv("TFCOMPARE_HOME", str(home))
    yield home
