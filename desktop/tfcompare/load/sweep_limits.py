"""How much of a capacity sweep tfcompare reads, and how each stored value is checked.

A sweep comes back from session files people mail to each other and from load agents' logs, so
reading one must be bounded whatever it holds. The bounds are those of the largest sweep a
:class:`~tfcompare.load.load_plan.LoadPlan` allows, with room to spare (docs/limits.md):

- levels: backends × variants × plan levels, at most ``MAX_SWEEP_LEVELS``;
- windows: at most the plan's ``max_windows`` per level (``MAX_WINDOWS``) and
  ``MAX_SWEEP_WINDOWS`` in the whole sweep;
- counts: at most ``MAX_COUNT`` per window or histogram (see :mod:`tfcompare.load.histogram`).

More than that is :class:`SweepTooLarge`; a value tfcompare never writes (a count that is not a
whole number, NaN, a negative duration, …) is a ValueError naming the field.
"""

from __future__ import annotations

from tfcompare.checks import flag, number, short_text, shown, whole_number
from tfcompare.load.histogram import MAX_COUNT
from tfcompare.load.load_plan import MAX_EPOCH_S, MAX_LEVEL, MAX_WINDOW_S, MAX_WINDOWS

MAX_SWEEP_BACKENDS = 256  # as many as a session holds
MAX_SWEEP_VARIANTS = 64  # the variant ladder has a dozen
MAX_SWEEP_LEVELS = 4096  # e.g. 8 backends × 8 variants × 64 levels
MAX_SWEEP_WINDOWS = 20_000  # a default sweep of 3 backends × 2 variants has at most 360
MAX_MESSAGES = 1000
MAX_ERROR_CODES = 64  # distinct error codes in one window (gRPC has 17)
MAX_AGENTS = 1000  # load agents whose windows were merged into one
MAX_CORES = 1 << 16
MAX_NAME_CHARS = 1000  # backend, variant and error-code names
MAX_NOTE_CHARS = 100_000  # messages, stop reasons, notes


class SweepTooLarge(ValueError):
    """A sweep holding more than tfcompare reads (more levels, windows or backends)."""


def at_most(items: object, limit: int, what: str) -> list:
    """``items`` if it is a list of at most ``limit`` entries."""
    if not isinstance(items, list):
        raise ValueError(f"{what} must be a list, not {shown(items)}")
    if len(items) > limit:
        raise SweepTooLarge(f"{len(items):,} {what}; tfcompare reads at most {limit:,}")
    return items


def count(d: dict, key: str, where: str, default: int | None = 0) -> int:
    """A stored count: a whole number from 0 to ``MAX_COUNT``."""
    value = _get(d, key, where, default)
    return whole_number(value, _path(where, key), 0, MAX_COUNT)


def real(d: dict, key: str, where: str, lo: float, hi: float, default: float | None = 0.0):
    """A stored number: finite, from ``lo`` to ``hi``."""
    value = _get(d, key, where, default)
    return number(value, _path(where, key), lo, hi)


def optional_real(d: dict, key: str, where: str, lo: float, hi: float) -> float | None:
    value = d.get(key)
    return None if value is None else number(value, _path(where, key), lo, hi)


def name(d: dict, key: str, where: str) -> str:
    return short_text(_get(d, key, where, None), _path(where, key), MAX_NAME_CHARS)


def note(value: object, what: str) -> str | None:
    return short_text(value, what, MAX_NOTE_CHARS, optional=True)


def level(d: dict, where: str) -> float:
    """A load level: requests in flight or per second."""
    value = number(_get(d, "level", where, None), _path(where, "level"), 0, MAX_LEVEL)
    if value <= 0:
        raise ValueError(f"{_path(where, 'level')} must be positive, not {shown(d['level'])}")
    return value


def epoch(d: dict, key: str, where: str, default: float | None = 0.0) -> float:
    return real(d, key, where, 0.0, MAX_EPOCH_S, default)


def seconds(d: dict, key: str, where: str, default: float | None = 0.0) -> float:
    """A window's length: one window lasts at most ``MAX_WINDOW_S`` (agents' merged windows
    included), a level at most ``MAX_WINDOWS`` of them."""
    return real(d, key, where, 0.0, MAX_WINDOW_S * MAX_WINDOWS, default)


def boolean(d: dict, key: str, where: str, default: bool | None = False) -> bool:
    value = _get(d, key, where, default)
    return flag(value, _path(where, key))


def short_text_of(d: dict, key: str, where: str) -> str | None:
    """An optional name-sized text field."""
    return short_text(d.get(key), _path(where, key), MAX_NAME_CHARS, optional=True)


def _path(where: str, key: str) -> str:
    """The field's place in the stored sweep: ``levels[3].windows[0].ok``."""
    return f"{where}.{key}" if where else key


def _get(d: dict, key: str, where: str, default: object) -> object:
    """``d[key]``, or ``default``; a field without a default must be there."""
    if default is None and key not in d:
        raise ValueError(f"{_path(where, key)} is missing")
    return d.get(key, default)


def required(d: dict, key: str, where: str) -> object:
    return _get(d, key, where, None)
