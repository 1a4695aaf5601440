"""Save ``.tfcs`` session files (``reader`` opens them).

Saving writes a complete new database to a hidden temporary file next to the target, fsyncs it and
only then renames it over the target, so a crash or a kill mid-save leaves the previous session
untouched. Nothing in a session is executed: it holds plain columns and JSON only.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from tfcompare.results import RequestResult, RunResult
from tfcompare.session.schema import (
    AGGREGATE_COLUMNS,
    APPLICATION_ID,
    DDL,
    FORMAT_NAME,
    IMAGE_COLUMNS,
    REQUEST_COLUMNS,
    SCHEMA_VERSION,
    SERVER_TIME_COLUMNS,
    TIMING_COLUMNS,
    VARIANT_COLUMNS,
    SessionError,
)
from tfcompare.tabular import json_text

_TMP_TAG = ".tfcs-partial"


@dataclass(frozen=True)
class SavedSession:
    """A session read back from disk. ``result.images`` carry their original bytes; their
    variants are metadata only (``data`` is empty: they can be re-encoded from the original)."""

    result: RunResult
    selection: dict = field(default_factory=dict)
    title: str | None = None
    saved_at: float = 0.0
    schema: int = SCHEMA_VERSION
    tfcompare_version: str = ""
    path: Path | None = None
    capacity: dict | None = (
        None  # a capacity sweep's JSON form (see tfcompare.load.capacity_results)
    )


# --------------------------------------------------------------------------- saving


def save_session(
    path: str | os.PathLike[str],
    result: RunResult,
    *,
    selection: dict | None = None,
    title: str | None = None,
    capacity: dict | None = None,
) -> None:
    """Write ``result`` (plus the UI's ``selection`` state, plain JSON, and a capacity sweep's
    JSON form) to ``path`` atomically.

    Raises SessionError (the target is left as it was) when the folder is missing or not
    writable, the disk is full, or ``selection`` is not plain JSON data.
    """
    from tfcompare import __version__

    target = Path(path)
    selection = {} if selection is None else selection
    if not isinstance(selection, dict):
        raise SessionError("cannot save the session: the selection must be a dict")
    try:
        json.dumps(selection, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SessionError(
            f"cannot save the session: the selection is not plain data ({exc})"
        ) from None
    try:
        capacity_doc = None if capacity is None else json.dumps(capacity, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SessionError(
            f"cannot save the session: the capacity sweep is not plain data ({exc})"
        ) from None
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SessionError(f"cannot save {target}: the folder {folder} does not exist")
    if target.is_dir():
        raise SessionError(f"cannot save {target}: it is a folder")
    _remove_stale_partials(folder, target.name)

    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_TAG}"
    meta = {
        "format": FORMAT_NAME,
        "schema": SCHEMA_VERSION,
        "tfcompare": __version__,
        "saved_at": time.time(),
        "title": title,
        "selection": selection,
        "settings": result.settings.to_dict(),
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }
    try:
        _write_database(tmp, result, meta, capacity_doc)
        _fsync_file(tmp)
        try:
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # keep the permissions of the old file
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
        _fsync_dir(folder)
    except (OSError, sqlite3.Error) as exc:
        _unlink_quietly(tmp)
        reason = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, sqlite3.Error):
            reason += " (is the disk full or the folder not writable?)"
        raise SessionError(f"cannot save {target}: {reason}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _write_database(tmp: Path, result: RunResult, meta: dict, capacity: str | None) -> None:
    con = sqlite3.connect(tmp, isolation_level=None)
    with closing(con):
        # A private temporary file: no journal and no syncing until it is complete (fsync'ed once).
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        con.executescript(DDL)
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [(k, json_text(v)) for k, v in meta.items()],
        )
        con.executemany(
            "INSERT INTO backends (idx, spec) VALUES (?, ?)",
            [(i, json_text(b.to_dict())) for i, b in enumerate(result.backends)],
        )
        for i, img in enumerate(result.images):
            con.execute(
                f"INSERT INTO images ({', '.join(IMAGE_COLUMNS)}) VALUES ({_marks(IMAGE_COLUMNS)})",
                (
                    i,
                    img.name,
                    img.path,
                    img.format,
                    img.width,
                    img.height,
                    img.nbytes,
                    json_text(list(img.notes)),
                    bytes(img.original),
                ),
            )
            con.executemany(
                f"INSERT INTO variants ({', '.join(VARIANT_COLUMNS)}) "
                f"VALUES ({_marks(VARIANT_COLUMNS)})",
                [
                    (
                        i,
                        j,
                        v.key,
                        v.box,
                        v.format,
                        v.quality,
                        v.width,
                        v.height,
                        v.nbytes,
                        v.encode_ms,
                    )
                    for j, v in enumerate(img.variants)
                ],
            )
        con.executemany(
            "INSERT INTO problems (idx, image, message) VALUES (?, ?, ?)",
            [(i, p.image, p.message) for i, p in enumerate(result.problems)],
        )
        con.executemany(
            f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({_marks(REQUEST_COLUMNS)})",
            (_request_row(r) for r in result.requests),
        )
        con.executemany(
            f"INSERT INTO aggregates ({', '.join(AGGREGATE_COLUMNS)}) "
            f"VALUES ({_marks(AGGREGATE_COLUMNS)})",
            ([getattr(a, c) for c in AGGREGATE_COLUMNS] for a in result.summary),
        )
        for table, columns, rows in (
            ("server_times", SERVER_TIME_COLUMNS, result.server_times),
            ("backend_timing", TIMING_COLUMNS, result.timings),
        ):
            con.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(columns)})",
                ([getattr(x, c) for c in columns] for x in rows),
            )
        if capacity is not None:
            con.execute("INSERT INTO capacity (idx, doc) VALUES (0, ?)", (capacity,))
        con.execute("COMMIT")


def _request_row(r: RequestResult) -> tuple:
    top5 = json_text([[p.label, p.score] for p in r.top5])  # a NaN score is stored as null
    return (
        r.image,
        r.variant,
        r.backend,
        r.protocol,
        r.phase,
        r.repeat,
        r.ok,
        r.latency_ms,
        r.client_ms,
        r.bytes,
        r.model_version,
        r.error,
        top5,
        r.score_kind,
        r.pod,
        r.started_at,
        r.pod_before,
        r.spans_restart,
        r.preprocess_ms,
    )


def _marks(columns: tuple[str, ...]) -> str:
    return ", ".join("?" * len(columns))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); not possible on Windows, where it is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _remove_stale_partials(folder: Path, name: str) -> None:
    """Remove half-written files left by earlier saves of ``name`` whose process has died."""
    prefix = f".{name}."
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(_TMP_TAG)):
            continue
        pid_text = entry.name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            _unlink_quietly(entry)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
