"""Checks of values read from outside (session files, JSON): each raises ValueError naming the field
and showing the bad value briefly. Shared by backend specs, run settings and results."""

from __future__ import annotations

import math


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
        raise ValueError(f"{what} must be a whole number from {lo} to {hi}, not {shown(value)}")
    return value


def positive_number(value: object, what: str) -> float:
    """``value`` as a float if it is a finite number > 0, else ValueError naming ``what``."""
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, not {shown(value)}")
    return float(value)


def text(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {shown(value)}")
    return value
