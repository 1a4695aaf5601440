"""Saved comparison sessions: ``.tfcs`` files (SQLite) that reopen a run exactly, and the
before/after comparison of two sessions. Plain Python: no Qt, no TensorFlow, no runner import."""

from __future__ import annotations

from tfcompare.session.compare import (
    Comparison,
    ComparisonRow,
    VariantStats,
    compare_results,
    format_comparison,
    variant_stats,
)
from tfcompare.session.reader import load_session
from tfcompare.session.schema import SCHEMA_VERSION, SUFFIX, SessionError, is_session_file
from tfcompare.session.store import SavedSession, save_session

__all__ = [
    "Comparison",
    "ComparisonRow",
    "VariantStats",
    "compare_results",
    "format_comparison",
    "variant_stats",
    "SCHEMA_VERSION",
    "SUFFIX",
    "SavedSession",
    "SessionError",
    "is_session_file",
    "load_session",
    "save_session",
]
