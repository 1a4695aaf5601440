"""Save and load ``.tfcs`` session files.

Saving writes a complete new database to a hidden temporary file next to the target, fsyncs it and
only then renames it over the target, so a crash or a kill mid-save leaves the previous session
untouched. Loading opens the file read-only and turns every kind of bad file into a SessionError
with a message for the user; nothing in a session is executed (plain columns and JSON only).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from tfcompare.datatypes import (
    Aggregate,
    BackendSpec,
    ImageInfo,
    ImageProblem,
    Prediction,
    RequestResult,
    RunResult,
    RunSettings,
    Variant,
)
from tfcompare.session.schema import (
    AGGREGATE_COLUMNS,
    AGGREGATE_COLUMNS_V1,
    APPLICATION_ID,
    DDL,
    FORMAT_NAME,
    IMAGE_COLUMNS,
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    SCHEMA_VERSION,
    VARIANT_COLUMNS,
    SessionError,
    check_header,
)

_TMP_TAG = ".tfcs-partial"
_PHASES = ("cold", "warmup", "measured")


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


# --------------------------------------------------------------------------- saving


def save_session(
    path: str | os.PathLike[str],
    result: RunResult,
    *,
    selection: dict | None = None,
    title: str | None = None,
) -> None:
    """Write ``result`` (plus the UI's ``selection`` state, plain JSON) to ``path`` atomically.

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
        raise SessionError(f"cannot save the session: the selection is not plain data ({exc})") from None
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
        _write_database(tmp, result, meta)
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


def _write_database(tmp: Path, result: RunResult, meta: dict) -> None:
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
            [(k, json.dumps(v)) for k, v in meta.items()],
        )
        con.executemany(
            "INSERT INTO backends (idx, spec) VALUES (?, ?)",
            [(i, json.dumps(b.to_dict())) for i, b in enumerate(result.backends)],
        )
        for i, img in enumerate(result.images):
            con.execute(
                f"INSERT INTO images ({', '.join(IMAGE_COLUMNS)}) VALUES ({_marks(IMAGE_COLUMNS)})",
                (i, img.name, img.path, img.format, img.width, img.height, img.nbytes,
                 json.dumps(list(img.notes)), bytes(img.original)),
            )
            con.executemany(
                f"INSERT INTO variants ({', '.join(VARIANT_COLUMNS)}) "
                f"VALUES ({_marks(VARIANT_COLUMNS)})",
                [(i, j, v.key, v.box, v.format, v.quality, v.width, v.height, v.nbytes, v.encode_ms)
                 for j, v in enumerate(img.variants)],
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
        con.execute("COMMIT")


def _request_row(r: RequestResult) -> tuple:
    top5 = json.dumps([[p.label, p.score] for p in r.top5])
    return (r.image, r.variant, r.backend, r.protocol, r.phase, r.repeat, r.ok, r.latency_ms,
            r.client_ms, r.bytes, r.model_version, r.error, top5, r.score_kind, r.pod, r.started_at,
            r.pod_before, r.spans_restart)


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
        pid_text = entry.name[len(prefix):].split(".", 1)[0]
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


# --------------------------------------------------------------------------- loading


def load_session(path: str | os.PathLike[str]) -> SavedSession:
    """Read a session file (read-only; nothing on disk changes). Raises SessionError for a missing,
    damaged or foreign file, or one written by a newer tfcompare."""
    source = Path(path)
    schema = check_header(source)
    uri = source.resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise SessionError(f"{source}: cannot open the session file ({exc})") from None
    try:
        with closing(con):
            return _read(con, source, schema)
    except SessionError:
        raise
    except sqlite3.DatabaseError as exc:
        raise SessionError(f"{source}: the session file is damaged ({exc})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise SessionError(f"{source}: the session file is damaged (bad data: {exc})") from None


def _read(con: sqlite3.Connection, source: Path, schema: int) -> SavedSession:
    meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    if meta.get("format") != FORMAT_NAME:
        raise SessionError(f"{source}: not a tfcompare session file (unknown format)")
    selection = meta.get("selection") or {}
    if not isinstance(selection, dict):
        raise ValueError("selection is not an object")
    backends = tuple(
        BackendSpec.from_dict(json.loads(spec))
        for (spec,) in con.execute("SELECT spec FROM backends ORDER BY idx")
    )
    result = RunResult(
        settings=RunSettings.from_dict(meta.get("settings") or {}),
        backends=backends,
        images=tuple(_read_images(con)),
        requests=tuple(_read_requests(con, schema)),
        problems=tuple(
            ImageProblem(str(image), str(message))
            for image, message in con.execute("SELECT image, message FROM problems ORDER BY idx")
        ),
        summary=tuple(_read_aggregates(con, schema)),
        started_at=float(meta.get("started_at") or 0.0),
        finished_at=float(meta.get("finished_at") or 0.0),
    )
    title = meta.get("title")
    return SavedSession(
        result=result,
        selection=selection,
        title=None if title is None else str(title),
        saved_at=float(meta.get("saved_at") or 0.0),
        schema=schema,
        tfcompare_version=str(meta.get("tfcompare") or ""),
        path=source,
    )


def _read_images(con: sqlite3.Connection) -> Iterator[ImageInfo]:
    variants: dict[int, list[Variant]] = {}
    for row in con.execute(f"SELECT {', '.join(VARIANT_COLUMNS)} FROM variants ORDER BY image_idx, idx"):
        image_idx, _, key, box, fmt, quality, width, height, nbytes, encode_ms = row
        variants.setdefault(image_idx, []).append(
            Variant(key=str(key), box=None if box is None else int(box), format=str(fmt),
                    quality=None if quality is None else int(quality), width=int(width),
                    height=int(height), nbytes=int(nbytes), encode_ms=float(encode_ms))
        )
    for row in con.execute(f"SELECT {', '.join(IMAGE_COLUMNS)} FROM images ORDER BY idx"):
        idx, name, path, fmt, width, height, nbytes, notes, original = row
        yield ImageInfo(
            name=str(name), path=None if path is None else str(path), format=str(fmt),
            width=int(width), height=int(height), nbytes=int(nbytes),
            variants=tuple(variants.get(idx, ())),
            notes=tuple(str(n) for n in json.loads(notes)),
            original=bytes(original),
        )


def _read_requests(con: sqlite3.Connection, schema: int) -> Iterator[RequestResult]:
    columns = REQUEST_COLUMNS if schema >= 2 else REQUEST_COLUMNS_V1
    for row in con.execute(f"SELECT {', '.join(columns)} FROM requests ORDER BY idx"):
        (image, variant, backend, protocol, phase, repeat, ok, latency_ms, client_ms, nbytes,
         model_version, error, top5, score_kind, pod, started_at, *rest) = row
        if phase not in _PHASES:
            raise ValueError(f"unknown request phase {phase!r}")
        pod_before, pod, spans = (rest[0], pod, rest[1]) if rest else _schema1_pods(pod)
        yield RequestResult(
            image=image, variant=variant, backend=backend, protocol=protocol, phase=phase,
            repeat=int(repeat), ok=bool(ok), latency_ms=latency_ms, client_ms=client_ms,
            bytes=int(nbytes), model_version=model_version, error=error,
            top5=tuple(Prediction(str(label), float(score)) for label, score in json.loads(top5)),
            score_kind=score_kind, pod=pod, started_at=float(started_at),
            pod_before=pod_before, spans_restart=bool(spans),
        )


_SCHEMA1_RESTART = " (pod restarted during request)"


def _schema1_pods(pod: str | None) -> tuple[str | None, str | None, bool]:
    """(pod_before, pod, spans_restart) from a schema-1 pod column, which wrote a restart into
    the name: ``old→new (pod restarted during request)``."""
    if pod and pod.endswith(_SCHEMA1_RESTART) and "→" in pod:
        old, new = pod[: -len(_SCHEMA1_RESTART)].split("→", 1)
        return (None if old == "None" else old), (None if new == "None" else new), True
    return None, pod, False


def _read_aggregates(con: sqlite3.Connection, schema: int) -> Iterator[Aggregate]:
    columns = AGGREGATE_COLUMNS if schema >= 2 else AGGREGATE_COLUMNS_V1
    for row in con.execute(f"SELECT {', '.join(columns)} FROM aggregates ORDER BY idx"):
        d = dict(zip(columns, row, strict=True))
        d["few_samples"] = bool(d["few_samples"])
        if d["top1_agree"] is not None:
            d["top1_agree"] = bool(d["top1_agree"])
        yield Aggregate(**d)
