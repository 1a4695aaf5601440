"""The window's backend colours: ``tfcompare.palette`` in the comparison's own order.

``assign`` is given the backends in the comparison's order (as configured, then any that only the
results know): the colours follow from their positions, as in ``tfcompare render`` and the findings
report. Whatever an earlier session or the remembered backends used plays no part.
"""

from __future__ import annotations

from tfcompare.palette import PALETTE, backend_colors, color_at

__all__ = ["PALETTE", "BackendColors"]


class BackendColors:
    """Name → colour by position in the comparison's order; a name outside that order (another
    session's overlay, say) gets the next colour after it."""

    def __init__(self) -> None:
        self._order: tuple[str, ...] = ()
        self._colors: dict[str, str] = {}

    def assign(self, names: list[str] | tuple[str, ...]) -> bool:
        """The comparison's backends, in order; True when any colour changed."""
        order = tuple(dict.fromkeys(names))
        if order == self._order:
            return False
        before = dict(self._colors)
        self._order = order
        self._colors = backend_colors(order)
        return any(before.get(n, c) != c for n, c in self._colors.items())

    @property
    def order(self) -> tuple[str, ...]:
        return self._order

    def color(self, name: str) -> str:
        if name not in self._colors:
            self._colors[name] = color_at(len(self._colors))
        return self._colors[name]
