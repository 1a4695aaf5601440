"""Capacity results as JSON (everything, histograms included) and CSV (one row per level)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tfcompare.load.capacity_results import CapacityResult
from tfcompare.load.sweep_limits import SweepTooLarge
from tfcompare.tabular import SafeDictWriter, json_text

CSV_FIELDS = (
    "backend",
    "variant",
    "mode",
    "level",
    "achieved",
    "throughput",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "mean_ms",
    "ok",
    "sent",
    "n_errors",
    "errors",
    "late",
    "dropped",
    "stable",
    "client_bound",
    "client_bound_reason",
    "loop_busy",
    "client_cpu",
    "server_ms",
    "stop_reason",
    "n_windows",
    "knee",
    "sustained",
)


def capacity_json(result: CapacityResult) -> str:
    return json_text(result.to_dict(), indent=1) + "\n"


def write_json(result: CapacityResult, path: str | Path) -> None:
    Path(path).write_text(capacity_json(result), encoding="utf-8")


def read_json(path: str | Path) -> CapacityResult:
    doc = json.loads(Path(path).read_text())
    if doc.get("kind") != "tfcompare-capacity":
        raise ValueError(f"{path} is not a tfcompare capacity result")
    return CapacityResult.from_dict(doc)


def capacity_csv(result: CapacityResult) -> str:
    knees = {(b, v): result.knee(b, v) for b, v in result.pairs()}
    best = {(b, v): result.sustained_level(b, v) for b, v in result.pairs()}
    buf = io.StringIO()
    writer = SafeDictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for lv in result.levels:
        row = lv.to_dict(windows=False)
        row["errors"] = ";".join(f"{k}={n}" for k, n in sorted(row["errors"].items()))
        row["level"] = f"{lv.level:g}"  # concurrency 4, rate 12.5 (not 4.0)
        row["knee"] = knees.get((lv.backend, lv.variant)) is lv
        row["sustained"] = best.get((lv.backend, lv.variant)) is lv
        writer.writerow(row)
    return buf.getvalue()


def write_csv(result: CapacityResult, path: str | Path) -> None:
    Path(path).write_text(capacity_csv(result), encoding="utf-8", newline="")


def save_capacity(
    path: str | Path,
    result: CapacityResult,
    run=None,
    *,
    title: str | None = None,
    selection: dict | None = None,
    settings=None,
) -> None:
    """Save a sweep as a session file (with the comparison ``run`` when there is one; without
    one, the file's comparison settings are ``settings``, tfcompare's defaults when None).
    Raises SessionError."""
    from tfcompare.results import RunResult
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.session import save_session
    from tfcompare.settings import RunSettings

    if run is None:
        run = RunResult(
            settings=settings or RunSettings(),
            images=(),
            requests=(),
            problems=(),
            summary=(),
            backends=tuple(BackendSpec.from_dict(b) for b in result.backends),
            started_at=result.started_at,
            finished_at=result.finished_at,
        )
    save_session(path, run, selection=selection, title=title, capacity=result.to_dict())


def capacity_of(saved) -> CapacityResult | None:
    """The sweep saved in a session (``SavedSession``), if any. Raises SessionError when the
    stored sweep cannot be read: "too large" beyond what tfcompare reads
    (``tfcompare.load.sweep_limits``), "damaged" for a value tfcompare never writes."""
    if not saved.capacity:
        return None
    from tfcompare.session import SessionError

    try:
        return CapacityResult.from_dict(saved.capacity)
    except SweepTooLarge as exc:
        raise SessionError(
            f"{saved.path}: the capacity sweep in the session is too large ({exc})"
        ) from None
    except MemoryError:
        raise SessionError(
            f"{saved.path}: the capacity sweep in the session is too large (out of memory)"
        ) from None
    except KeyError as exc:
        raise SessionError(
            f"{saved.path}: the capacity sweep in the session is damaged "
            f"(a field is missing: {exc})"
        ) from None
    except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        raise SessionError(
            f"{saved.path}: the capacity sweep in the session is damaged ({exc})"
        ) from None
