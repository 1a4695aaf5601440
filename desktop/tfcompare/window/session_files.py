"""What the window writes and reads besides its own state: session files (with a capacity sweep
when there is one), result exports and the findings report. Plain functions over plain values; the
controller decides when (``WindowController.save_session``, ``export_results``…)."""

from __future__ import annotations

from pathlib import Path

from tfcompare.results import RunResult
from tfcompare.settings import RunSettings


def save(
    path: Path, result: RunResult | None, sweep, selection: dict, settings: RunSettings
) -> None:
    """A session file of ``result`` and/or a capacity ``sweep``; a sweep alone is saved with the
    window's ``settings``. Raises SessionError."""
    from tfcompare.session import SessionError, save_session

    if sweep is not None:
        from tfcompare.load.capacity_formats import save_capacity

        save_capacity(path, sweep, result, selection=selection, title=path.stem, settings=settings)
    elif result is not None:
        save_session(path, result, selection=selection, title=path.stem)
    else:
        raise SessionError("nothing to save: no comparison run and no capacity sweep")


def load_capacity(capacity, saved) -> str | None:
    """Show a saved session's capacity sweep in ``capacity`` (a ``CapacityController``); the
    problem, if any."""
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import SessionError

    try:
        capacity.load(capacity_of(saved))
    except SessionError as exc:
        capacity.load(None)
        return str(exc)
    return None


def write_results(result: RunResult, kind: str, path: str | Path) -> None:
    """The run as JSON or CSV (``tfcompare run --json/--csv``'s shapes); raises OSError."""
    from tfcompare.runner.run_formats import write_csv, write_json

    (write_json if kind == "json" else write_csv)(result, path)


def write_findings(
    result: RunResult, path: str | Path, capacity, session: Path | None, title: str | None
):
    """The findings report (HTML) of ``result`` with the capacity sweep ``capacity`` (or none);
    ``session`` is the file it comes from, when what is shown is that file. Raises OSError."""
    from tfcompare.report import write_report

    return write_report(
        path,
        result,
        capacity=capacity,
        title=title or (session.name if session else None),
        source=str(session) if session else "",
    )
