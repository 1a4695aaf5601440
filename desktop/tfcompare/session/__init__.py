"""Saved comparison sessions: ``.tfcs`` files (SQLite) that reopen a run exactly. Plain Python: no
Qt, no TensorFlow, no runner import (comparing two sessions is ``tfcompare.runner.compare``)."""

from __future__ import annotations

from tfcompare.session.reader import load_session
from tfcompare.session.schema import SCHEMA_VERSION, SUFFIX, SessionError, is_session_file
from tfcompare.session.store import SavedSession, save_session

__all__ = [
    "SCHEMA_VERSION",
    "SUFFIX",
    "SavedSession",
    "SessionError",
    "is_session_file",
    "load_session",
    "save_session",
]
