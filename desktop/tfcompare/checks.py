"""Checks of values read from outside (session files, JSON): each raises ValueError naming the field
and showing the bad value briefly. Shared by backend specs, run settings and results."""

from __future__ import annotations

import math
from typing import Literal, overload


def nested_deeper_than(document: object, limit: int) -> bool:
    """Whether a parsed JSON document nests lists/objects more than ``limit`` levels deep (the
    document itself is level 1, the items of a list or object one level deeper than it), checked
    a level at a time without recursion (a hostile document can be deeper than Python's stack).
    Only containers are carried to the next level, so a document of millions of numbers costs
    one pass over them."""
    if limit < 1:
        return True
    level = [document] if isinstance(document, (dict, list)) else []
    depth = 1
    while level:
        deeper: list = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            if items and depth >= limit:  # its items sit below the limit
                return True
            deeper += [item for item in items if isinstance(item, (dict, list))]
        level = deeper
        depth += 1
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


# A number a result may hold: wide enough for any time in ms, byte count or timestamp, finite.
RESULT_LIMIT = 1e15


def _field_check(annotation: str):
    """The check for a plain value field of a result dataclass, from its annotation."""
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    checks = {
        "str": lambda v, w: text(v, w),
        "int": lambda v, w: whole_number(v, w, -(2**63), 2**63 - 1),
        "float": lambda v, w: number(v, w, -RESULT_LIMIT, RESULT_LIMIT),
        "bool": lambda v, w: flag(v, w),
    }
    check = checks.get(base)
    if check is None:
        return None
    if optional:
        return lambda v, w: None if v is None else check(v, w)
    return check


def from_fields(cls, d: object, what: str, special: dict | None = None) -> dict:
    """The keyword arguments that rebuild the dataclass ``cls`` from ``d`` (what its ``to_dict``
    wrote, read from a session or a JSON file): every field checked by its annotation (text,
    whole number, finite number, true/false, each possibly null), or by ``special[name](value,
    label)`` for the others. A field ``d`` lacks takes its default (files written before the field
    existed); one without a default is an error. Raises ValueError naming the field."""
    import dataclasses

    if not isinstance(d, dict):
        raise ValueError(f"{what} must be an object, not {shown(d)}")
    special = special or {}
    out = {}
    for f in dataclasses.fields(cls):
        label = f"{what} {f.name}"
        if f.name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{what} has no {f.name}")
            continue
        check = special.get(f.name) or _field_check(str(f.type))
        if check is None:
            raise TypeError(f"{cls.__name__}.{f.name} ({f.type}) needs a check of its own")
        out[f.name] = check(d[f.name], label)
    return out
