"""Checks of values read from outside (session files, JSON): each raises ValueError naming the field
and showing the bad value briefly. Shared by backend specs, run settings and results."""

from __future__ import annotations

import math
from typing import Literal, overload


def nested_deeper_than(document: object, limit: int) -> bool:
    """Whether a parsed JSON document nests lists/objects more than ``limit`` levels deep, checked
    without recursion (a hostile document can be deeper than Python's stack)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def shown(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**20 else "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(value: object, what: str, lo: int, hi: int) -> int:
    """``value`` if it is an int (not a bool) in lo..hi, else ValueError naming ``what``."""
    if type(value) is not int or not lo <= value <= hi:
        raise ValueError(f"{what} must be a whole number from {lo:,} to {hi:,}, not {shown(value)}")
    return value


def positive_number(value: object, what: str) -> float:
    """``value`` as a float if it is a finite number > 0, else ValueError naming ``what``."""
    if (type(value) is int or type(value) is float) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(f"{what} must be a positive number, not {shown(value)}")


@overload
def text(value: object, what: str, *, optional: Literal[False] = False) -> str: ...
@overload
def text(value: object, what: str, *, optional: bool) -> str | None: ...
def text(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {shown(value)}")
    return value


def number(value: object, what: str, lo: float, hi: float) -> float:
    """``value`` as a float if it is a finite number (not a bool) in lo..hi, else ValueError
    naming ``what``. Integers are compared as integers: 10**400 is out of range, not an
    OverflowError."""
    if type(value) is int and lo <= value <= hi:
        return float(value)
    if type(value) is float and math.isfinite(value) and lo <= value <= hi:
        return value
    raise ValueError(
        f"{what} must be a number from {_bound(lo)} to {_bound(hi)}, not {shown(value)}"
    )


def _bound(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def flag(value: object, what: str) -> bool:
    """``value`` if it is true or false, else ValueError naming ``what``."""
    if type(value) is not bool:
        raise ValueError(f"{what} must be true or false, not {shown(value)}")
    return value


@overload
def short_text(
    value: object, what: str, limit: int, *, optional: Literal[False] = False
) -> str: ...
@overload
def short_text(value: object, what: str, limit: int, *, optional: bool) -> str | None: ...
def short_text(value: object, what: str, limit: int, *, optional: bool = False) -> str | None:
    """``text`` that is at most ``limit`` characters long."""
    out = text(value, what, optional=optional)
    if out is not None and len(out) > limit:
        raise ValueError(f"{what} is {len(out):,} characters long; at most {limit:,}")
    return out
