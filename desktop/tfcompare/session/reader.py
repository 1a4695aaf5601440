"""Open ``.tfcs`` session files safely.

Sessions are files people mail to each other, so opening one must be safe whatever it holds:

- only a regular file no larger than ``MAX_FILE_BYTES`` is opened, read-only and ``immutable``
  (nothing is written beside it, not even the ``-wal``/``-shm`` files of a WAL-mode database);
- the database must hold exactly the tables (and automatic indexes) tfcompare writes, with the
  same definitions: no views, triggers or other objects, so no query reads anything but stored rows;
- SQLite's limits are lowered (longest value, statement length, expression depth, …) and a
  progress handler stops any statement after ``DEADLINE_S`` seconds;
- row counts (``MAX_ROWS``), text and blob sizes, JSON nesting depth and number ranges are
  bounded, and every value must have its column's declared type.

Anything else is a SessionError whose message says "not a tfcompare session", "damaged" or
"too large", and names the file.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from tfcompare.checks import nested_deeper_than
from tfcompare.imaging.values import ImageInfo, ImageProblem, Variant
from tfcompare.results import Aggregate, BackendTiming, RequestResult, RunResult, ServerTime
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.protocols import PROTOCOLS
from tfcompare.session.schema import (
    AGGREGATE_COLUMNS,
    AGGREGATE_COLUMNS_V1,
    AGGREGATE_COLUMNS_V2,
    AGGREGATE_COLUMNS_V4,
    FORMAT_NAME,
    IMAGE_COLUMNS,
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    REQUEST_COLUMNS_V4,
    SCHEMA_VERSION,
    SERVER_TIME_COLUMNS,
    SERVER_TIME_COLUMNS_V2,
    TIMING_COLUMNS,
    TIMING_COLUMNS_V2,
    VARIANT_COLUMNS,
    SessionError,
    check_header,
    column_types,
    expected_layout,
)
from tfcompare.session.store import SavedSession
from tfcompare.settings import RunSettings

MAX_FILE_BYTES = 4 << 30
MAX_BLOB_BYTES = 1 << 30  # one image's original (the largest image file tfcompare reads)
MAX_TEXT_CHARS = 4 << 20
#: A capacity sweep (all its windows' histograms, as one JSON document) may be longer.
MAX_DOC_CHARS = 512 << 20
MAX_JSON_DEPTH = 32
MAX_INTEGER = 2**53  # counts, sizes, indexes, versions: never negative, exact as floats too
MAX_TOP5 = 100
DEADLINE_S = 60.0
MAX_ROWS = {
    "meta": 64,
    "backends": 256,
    "images": 20_000,
    "variants": 400_000,
    "problems": 20_000,
    "requests": 1_000_000,
    "aggregates": 500_000,
    "server_times": 500_000,
    "backend_timing": 256,
    "capacity": 1,
}
_BOOLEAN = {
    ("requests", "ok"),
    ("aggregates", "few_samples"),
    ("aggregates", "top1_agree"),
    ("aggregates", "server_exact"),
    ("server_times", "exact"),
    ("requests", "spans_restart"),
}
# INTEGER columns that may also hold a label: an Open Inference Protocol server's model version
# ("v2.0") beside TF Serving's numbers
_OR_LABEL = {("requests", "model_version")}
_PHASES = ("cold", "warmup", "measured")
_SCORE_KINDS = ("probability", "logit", "unknown")


class _Damaged(ValueError):
    """A value that tfcompare never writes; becomes SessionError "damaged (…)"."""


class _TooLarge(ValueError):
    """More than tfcompare reads; becomes SessionError "too large (…)"."""


def load_session(path: str | os.PathLike[str]) -> SavedSession:
    """Read a session file (read-only: nothing on disk changes). Raises SessionError for a
    missing, damaged, foreign, crafted or oversized file, or one written by a newer tfcompare."""
    source = Path(path)
    schema = check_header(source)
    size = source.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SessionError(
            f"{source}: the session file is too large ({size / 2**30:.1f} GiB; tfcompare opens "
            f"sessions up to {MAX_FILE_BYTES / 2**30:.0f} GiB)"
        )
    try:
        con = _connect(source)
    except sqlite3.Error as exc:
        raise SessionError(f"{source}: cannot open the session file ({exc})") from None
    try:
        with closing(con):
            _check_layout(con, source, schema)
            return _read(con, source, schema)
    except SessionError:
        raise
    except _TooLarge as exc:
        raise SessionError(f"{source}: the session file is too large ({exc})") from None
    except _Damaged as exc:
        raise SessionError(f"{source}: the session file is damaged ({exc})") from None
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "interrupted" in text:
            raise SessionError(
                f"{source}: the session file is too large (reading it took longer than "
                f"{DEADLINE_S:g} s)"
            ) from None
        if "too big" in text:
            raise SessionError(f"{source}: the session file is too large ({text})") from None
        raise SessionError(f"{source}: the session file is damaged ({text})") from None
    except RecursionError:
        raise SessionError(
            f"{source}: the session file is damaged (data nested too deeply)"
        ) from None
    except MemoryError:
        raise SessionError(f"{source}: the session file is too large (out of memory)") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise SessionError(f"{source}: the session file is damaged (bad data: {exc})") from None


def _connect(source: Path) -> sqlite3.Connection:
    # immutable: no locks, no journal, no -wal/-shm files; the file is read as it is on disk.
    uri = source.resolve().as_uri() + "?mode=ro&immutable=1"
    con = sqlite3.connect(uri, uri=True, isolation_level=None)
    for limit, value in (
        (sqlite3.SQLITE_LIMIT_LENGTH, MAX_BLOB_BYTES),
        (sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000),
        (sqlite3.SQLITE_LIMIT_COLUMN, 64),
        (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 64),
        (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 4),
        (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 8),
        (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
        (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 64),
        (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 64),
        (sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1),
        (sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0),
    ):
        con.setlimit(limit, value)
    deadline = time.monotonic() + DEADLINE_S
    con.set_progress_handler(lambda: time.monotonic() > deadline, 100)
    for pragma in ("trusted_schema=OFF", "query_only=ON", "cell_size_check=ON", "mmap_size=0"):
        con.execute(f"PRAGMA {pragma}")
    return con


def _check_layout(con: sqlite3.Connection, source: Path, schema: int) -> None:
    """Exactly the objects the DDL of its schema makes, defined exactly as it defines them."""
    expected = expected_layout(schema)
    found = con.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master LIMIT ?", (len(expected) + 1,)
    ).fetchall()
    for kind, name, table, sql in found:
        want = expected.get((kind, name))
        if want is None:
            raise SessionError(
                f"{source}: not a tfcompare session file (it holds {kind} {name!r:.60}, "
                "which tfcompare never writes)"
            )
        if want != (table, sql):
            raise SessionError(
                f"{source}: the session file is damaged ({kind} {name} is not defined the way "
                "tfcompare defines it)"
            )
    missing = set(expected) - {(kind, name) for kind, name, _, _ in found}
    if missing:
        kind, name = sorted(missing)[-1]
        raise SessionError(f"{source}: the session file is damaged ({kind} {name} is missing)")


def _rows(
    con: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    order: str,
    schema: int = SCHEMA_VERSION,
) -> Iterator[tuple]:
    """The rows of one table, each value checked against its column's declared type."""
    (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    if count > MAX_ROWS[table]:
        raise _TooLarge(f"{count} rows in table {table}; tfcompare reads at most {MAX_ROWS[table]}")
    types = column_types(table, schema)
    checks = [(c, *types[c], (table, c) in _BOOLEAN) for c in columns]
    for row in con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"):
        yield tuple(_value(table, v, *check) for v, check in zip(row, checks, strict=True))


def _value(table: str, value: Any, column: str, decl: str, notnull: bool, boolean: bool) -> Any:
    where = f"{table}.{column}"
    if value is None:
        if notnull:
            raise _Damaged(f"{where} is empty")
        return None
    if decl == "INTEGER" and type(value) is str and (table, column) in _OR_LABEL:
        if len(value) > MAX_TEXT_CHARS:
            raise _TooLarge(f"{where} holds {len(value)} characters; at most {MAX_TEXT_CHARS}")
        return value
    if decl == "INTEGER":
        if type(value) is not int or not 0 <= value <= (1 if boolean else MAX_INTEGER):
            raise _Damaged(
                f"{where} holds {_kind(value)}, not {'0 or 1' if boolean else 'a count'}"
            )
        return bool(value) if boolean else value
    if decl == "REAL":
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _Damaged(f"{where} holds {_kind(value)}, not a finite number")
        return float(value)
    if decl == "TEXT":
        if type(value) is not str:
            raise _Damaged(f"{where} holds {_kind(value)}, not text")
        limit = MAX_DOC_CHARS if (table, column) == ("capacity", "doc") else MAX_TEXT_CHARS
        if len(value) > limit:
            raise _TooLarge(f"{where} holds {len(value)} characters; at most {limit}")
        return value
    if type(value) is not bytes:  # BLOB
        raise _Damaged(f"{where} holds {_kind(value)}, not bytes")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, float):
        return "a non-finite number" if not math.isfinite(value) else "a fraction"
    return "a number out of range"


def _json(text: str, what: str) -> Any:
    """Parse JSON written by tfcompare: standard JSON only (no NaN/Infinity), nested at most
    ``MAX_JSON_DEPTH`` levels."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise _Damaged(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:
        raise _Damaged(f"{what}: not valid JSON ({exc})") from None
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise _Damaged(f"{what}: JSON nested too deeply")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _meta_number(meta: dict, key: str) -> float:
    value = meta.get(key)
    if value is None:
        return 0.0
    if type(value) not in (int, float):  # parsed JSON numbers are finite (see _json)
        raise _Damaged(f"meta {key} is not a number")
    return float(value)


def _meta_text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    if value is not None and not isinstance(value, str):
        raise _Damaged(f"meta {key} is not text")
    return value


def _read(con: sqlite3.Connection, source: Path, schema: int) -> SavedSession:
    meta = {k: _json(v, f"meta {k}") for k, v in _rows(con, "meta", ("key", "value"), "key")}
    if meta.get("format") != FORMAT_NAME:
        raise SessionError(f"{source}: not a tfcompare session file (unknown format)")
    selection = meta.get("selection") or {}
    settings = meta.get("settings") or {}
    if not isinstance(selection, dict) or not isinstance(settings, dict):
        raise _Damaged("meta selection and settings must be objects")
    st_columns = SERVER_TIME_COLUMNS if schema >= 5 else SERVER_TIME_COLUMNS_V2
    timing_columns = TIMING_COLUMNS if schema >= 5 else TIMING_COLUMNS_V2
    backends = []
    for (spec,) in _rows(con, "backends", ("spec",), "idx"):
        d = _json(spec, "a backend")
        if not isinstance(d, dict):
            raise _Damaged("a backend is not an object")
        backends.append(BackendSpec.from_dict(d))
    result = RunResult(
        settings=RunSettings.from_dict(settings),
        backends=tuple(backends),
        images=tuple(_read_images(con)),
        requests=tuple(_read_requests(con, schema)),
        problems=tuple(
            ImageProblem(image, message)
            for image, message in _rows(con, "problems", ("image", "message"), "idx")
        ),
        summary=tuple(_read_aggregates(con, schema)),
        started_at=_meta_number(meta, "started_at"),
        finished_at=_meta_number(meta, "finished_at"),
        server_times=tuple(
            ServerTime.from_dict(dict(zip(st_columns, row, strict=True)))
            for row in _rows(con, "server_times", st_columns, "idx", schema)
        )
        if schema >= 2
        else (),
        timings=tuple(
            BackendTiming.from_dict(dict(zip(timing_columns, row, strict=True)))
            for row in _rows(con, "backend_timing", timing_columns, "idx", schema)
        )
        if schema >= 2
        else (),
    )
    capacity = None
    if schema >= 3:
        for (doc,) in _rows(con, "capacity", ("doc",), "idx", schema):
            capacity = _json(doc, "the capacity sweep")
            if not isinstance(capacity, dict):
                raise _Damaged("the capacity sweep is not an object")
    return SavedSession(
        result=result,
        selection=selection,
        title=_meta_text(meta, "title"),
        saved_at=_meta_number(meta, "saved_at"),
        schema=schema,
        tfcompare_version=_meta_text(meta, "tfcompare") or "",
        path=source,
        capacity=capacity,
    )


def _read_images(con: sqlite3.Connection) -> Iterator[ImageInfo]:
    variants: dict[int, list[Variant]] = {}
    for row in _rows(con, "variants", VARIANT_COLUMNS, "image_idx, idx"):
        image_idx, _, key, box, fmt, quality, width, height, nbytes, encode_ms = row
        variants.setdefault(image_idx, []).append(
            Variant(
                key=key,
                box=box,
                format=fmt,
                quality=quality,
                width=width,
                height=height,
                nbytes=nbytes,
                encode_ms=encode_ms,
            )
        )
    for row in _rows(con, "images", IMAGE_COLUMNS, "idx"):
        idx, name, path, fmt, width, height, nbytes, notes, original = row
        notes = _json(notes, f"the notes of image {name!r:.60}")
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise _Damaged(f"the notes of image {name!r:.60} are not a list of texts")
        yield ImageInfo(
            name=name,
            path=path,
            format=fmt,
            width=width,
            height=height,
            nbytes=nbytes,
            variants=tuple(variants.get(idx, ())),
            notes=tuple(notes),
            original=original,
        )


def _top5(text: str) -> tuple[Prediction, ...]:
    pairs = _json(text, "a request's top-5")
    if not isinstance(pairs, list) or len(pairs) > MAX_TOP5:
        raise _Damaged("a request's top-5 is not a short list")
    out = []
    for pair in pairs:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and type(pair[1]) in (int, float, type(None))
        ):
            raise _Damaged("a request's top-5 entry is not [label, score]")
        # null: the server answered NaN for this score (standard JSON has no NaN)
        out.append(Prediction(pair[0], math.nan if pair[1] is None else float(pair[1])))
    return tuple(out)


def _read_requests(con: sqlite3.Connection, schema: int) -> Iterator[RequestResult]:
    columns = (
        REQUEST_COLUMNS
        if schema >= 5
        else REQUEST_COLUMNS_V4
        if schema >= 4
        else REQUEST_COLUMNS_V1
    )
    for row in _rows(con, "requests", columns, "idx", schema):
        d = dict(zip(columns, row, strict=True))
        if d["phase"] not in _PHASES:
            raise _Damaged(f"unknown request phase {d['phase']!r:.40}")
        if d["protocol"] not in PROTOCOLS or d["score_kind"] not in _SCORE_KINDS:
            raise _Damaged("a request's protocol or score kind is unknown")
        d["top5"] = _top5(d["top5"])
        if schema < 4:
            d["pod_before"], d["pod"], d["spans_restart"] = _older_pods(d["pod"])
        yield RequestResult(**d)


_OLDER_RESTART = " (pod restarted during request)"


def _older_pods(pod: str | None) -> tuple[str | None, str | None, bool]:
    """(pod_before, pod, spans_restart) from a schema 1–3 pod column, which wrote a restart into
    the name: ``old→new (pod restarted during request)``."""
    if pod and pod.endswith(_OLDER_RESTART) and "→" in pod:
        old, new = pod[: -len(_OLDER_RESTART)].split("→", 1)
        return (None if old == "None" else old), (None if new == "None" else new), True
    return None, pod, False


def _read_aggregates(con: sqlite3.Connection, schema: int) -> Iterator[Aggregate]:
    """Schema 1 files have no server-time columns, schema 1–3 files no ``n_spanning``: those
    fields keep their defaults."""
    columns = (
        AGGREGATE_COLUMNS
        if schema >= 5
        else AGGREGATE_COLUMNS_V4
        if schema >= 4
        else AGGREGATE_COLUMNS_V2
        if schema >= 2
        else AGGREGATE_COLUMNS_V1
    )
    for row in _rows(con, "aggregates", columns, "idx", schema):
        yield Aggregate(**dict(zip(columns, row, strict=True)))
