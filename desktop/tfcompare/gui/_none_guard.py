"""Guard against PySide6 6.12 reference-count bugs that kill the window on Python 3.11.

PySide6 6.12 returns ``None`` for an invalid QVariant without taking a reference (e.g.
``QComboBox.currentData()`` on an empty combo, ``QListWidgetItem.data(role)`` for an unset role,
and many calls pyqtgraph makes while drawing). Each such call drops one reference to ``None``; the
window loses about a thousand a second while charts update, and once ``None``'s count reaches zero
CPython aborts with "Fatal Python error: none_dealloc". Python 3.12+ makes ``None`` immortal, so
the bug is harmless there. On 3.11 we do the same by hand: give ``None`` 2**40 extra references
once, which no session can use up (at 10**4 lost per second: 3 years). ``True`` loses references
the same way (about one per chart redraw), so it gets the same treatment (and ``False`` with it).
"""

from __future__ import annotations

import ctypes
import sys

EXTRA = 1 << 40
_applied = False


def protect_none() -> bool:
    """Make ``None``, ``True`` and ``False`` practically immortal on Python < 3.12; True when it changed anything."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    # ob_refcnt is the first field of every CPython object (a Py_ssize_t).
    for singleton in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))
        refcnt.value += EXTRA
    _applied = True
    return True
