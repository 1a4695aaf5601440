"""One colour per backend, everywhere (charts, table, backend list).

Colours follow the order backends were added and never depend on Qt, so a saved session and the
live window agree. The palette is colour-blind friendly (Okabe–Ito, then Tableau for more).
"""

from __future__ import annotations

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#D55E00",  # vermillion
    "#56B4E9",  # sky
    "#8C564B",  # brown
    "#7F7F7F",  # grey
    "#BCBD22",  # olive
    "#17BECF",  # cyan
)


class BackendColors:
    """Stable name → colour assignment; a name keeps its colour once it has one."""

    def __init__(self) -> None:
        self._colors: dict[str, str] = {}

    def assign(self, names: list[str] | tuple[str, ...]) -> None:
        for name in names:
            self.color(name)

    def color(self, name: str) -> str:
        if name not in self._colors:
            used = set(self._colors.values())
            free = [c for c in PALETTE if c not in used]
            self._colors[name] = free[0] if free else PALETTE[len(self._colors) % len(PALETTE)]
        return self._colors[name]

    def forget_except(self, names: list[str] | tuple[str, ...]) -> None:
        keep = set(names)
        self._colors = {n: c for n, c in self._colors.items() if n in keep}
