"""What the window writes and reads besides its own state: session files (with a capacity sweep
when there is one), result exports and the findings report. Plain functions over plain values; the
controller decides when (``WindowController.save_session``, ``export_results``…)."""

from __future__ import annotations

from pathlib import Path

from tfcompare.results import RunResult


def save(path: Path, result: RunResult | None, sweep, selection: dict) -> None:
    """A session file of ``result`` and/or a capacity ``sweep``; raises SessionError."""
    from tfcompare.session import save_session

    if sweep is not None:
        from tfcompare.load.capacity_formats import save_capacity

        save_capacity(path, sweep, result, selection=selection, title=path.stem)
    else:
        save_session(path, result, selection=selection, title=path.stem)


def load_capacity(model, saved) -> str | None:
    """Put a saved session's capacity sweep in ``model`` (a CapacityModel); the problem, if any."""
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import SessionError

    try:
        model.load(capacity_of(saved))
    except SessionError as exc:
        model.load(None)
        return str(exc)
    return None


def write_results(result: RunResult, kind: str, path: str | Path) -> None:
    """The run as JSON or CSV (``tfcompare run --json/--csv``'s shapes); raises OSError."""
    from tfcompare.runner.run_formats import write_csv, write_json

    (write_json if kind == "json" else write_csv)(result, path)


def write_findings(result: RunResult, path: str | Path, session: Path | None, title: str | None):
    """The findings report (HTML) of ``result``, with the capacity sweep of ``session`` (the
    file shown, when unchanged since it was opened; None otherwise). Raises OSError."""
    from tfcompare.report import write_report

    return write_report(
        path,
        result,
        capacity=_capacity_of_file(session),
        title=title or (session.name if session else None),
        source=str(session) if session else "",
    )


def _capacity_of_file(session: Path | None):
    if session is None:
        return None
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import SessionError, load_session

    try:
        return capacity_of(load_session(session))
    except SessionError:
        return None
