"""One colour per backend, the same in the window, ``tfcompare render`` and the findings report.

A backend's colour is its position in the comparison's own backend order (the session's order,
as configured): the first backend is always blue, the second orange, and so on — whatever the
window remembered from earlier sessions and whichever view draws first. The palette is colour-blind
friendly (Okabe–Ito without its yellow and black, which vanish on white paper and read as text,
then Tableau's brown, grey, olive and cyan).
"""

from __future__ import annotations

from collections.abc import Iterable

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


def color_at(index: int) -> str:
    """The colour of the backend at ``index`` in the comparison's order."""
    return PALETTE[index % len(PALETTE)]


def backend_colors(order: Iterable[str]) -> dict[str, str]:
    """``{backend: colour}`` for backends in the comparison's order (a name given twice keeps
    its first place)."""
    names = list(dict.fromkeys(order))
    return {name: color_at(i) for i, name in enumerate(names)}
