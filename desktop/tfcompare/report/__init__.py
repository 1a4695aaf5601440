"""The findings report (one self-contained HTML page) and the regression gate between two
sessions. Plain Python: no Qt, no TensorFlow."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tfcompare.palette import backend_colors
from tfcompare.report import findings as _f
from tfcompare.report.capacity import capacity_caveats, sweep_tables
from tfcompare.report.context import caveats, setup_tables, when
from tfcompare.report.data import SessionView
from tfcompare.report.fastest import fastest
from tfcompare.report.model import Finding, Table, not_enough
from tfcompare.report.page import render_page
from tfcompare.results import RunResult

if TYPE_CHECKING:
    from tfcompare.load.capacity_results import CapacityResult

DEFAULT_MIN_AGREEMENT = _f.DEFAULT_MIN_AGREEMENT
SWEEP_ONLY = (
    "the session holds a capacity sweep only; this finding needs a comparison run of "
    "the images' variants (tfcompare run, or Run in the window)"
)


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    findings: tuple[Finding, ...]
    setup: tuple[Table, ...]
    caveats: tuple[str, ...]
    generated: str
    # one colour per backend, from the session's order (as the window and ``render`` draw them)
    colors: dict[str, str] = field(default_factory=dict)

    def finding(self, key: str) -> Finding:
        return next(f for f in self.findings if f.key == key)

    def html(self) -> str:
        return render_page(
            title=self.title,
            subtitle=self.subtitle,
            findings=list(self.findings),
            setup=self.setup,
            caveats=list(self.caveats),
            generated=self.generated,
            colors=self.colors,
        )


def build_report(
    result: RunResult,
    *,
    capacity: CapacityResult | None = None,
    title: str | None = None,
    source: str = "",
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
) -> Report:
    """The four findings, the setup and the caveats of one run (and its capacity sweep)."""
    if not 0 < min_agreement <= 100:
        raise ValueError("the minimum agreement is a percentage between 0 and 100")
    view = SessionView(result)
    found = [
        _f.resizing(view, min_agreement),
        _f.formats(view),
        _f.size_vs_time(view),
        fastest(view, capacity),
    ]
    notes = caveats(view) + (capacity_caveats(capacity) if capacity else [])
    n_req = len(result.measured)
    setup = setup_tables(result)
    if capacity is not None and not n_req:  # a sweep alone: the run's parts would be empty
        found[:3] = [not_enough(f.key, f.title, f.question, SWEEP_ONLY) for f in found[:3]]
        notes = capacity_caveats(capacity)  # the run's caveats describe a run that did not happen
        subtitle = (
            f"a capacity sweep: {len(capacity.pairs())} backend × variant curve(s), "
            f"{len(capacity.levels)} load level(s), measured {when(capacity.started_at)}"
        )
        setup = setup[:1]  # the backends; the run's settings and images do not apply
    else:
        subtitle = (
            f"{len(result.images)} image(s) × {len(view.variant_keys())} variant(s) × "
            f"{len(result.backends)} backend(s), {n_req} measured requests, measured "
            f"{when(result.started_at)}"
        )
    if capacity is not None:
        setup = (*setup, *sweep_tables(capacity))
    return Report(
        title=f"tfcompare report — {title}" if title else "tfcompare report",
        subtitle=subtitle + (f" — {source}" if source else ""),
        findings=tuple(found),
        setup=setup,
        caveats=tuple(notes),
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        colors=backend_colors(b.name for b in result.backends),
    )


def write_report(path: str | Path, result: RunResult, **kwargs) -> Report:
    report = build_report(result, **kwargs)
    Path(path).write_text(report.html(), encoding="utf-8")
    return report


__all__ = ["DEFAULT_MIN_AGREEMENT", "Report", "build_report", "write_report"]
