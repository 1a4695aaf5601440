"""The on-disk layout of a ``.tfcs`` session file and the cheap checks made before SQLite opens one.

A session is an ordinary SQLite database marked with our ``application_id`` (so another program's
database is recognised as such) and a schema number in ``PRAGMA user_version`` (mirrored in the
``meta`` table). Everything stored is plain data: numbers, text, JSON text and image bytes.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import struct
from pathlib import Path

SCHEMA_VERSION = 5  # 2: server time (aggregates' server columns, server_times, backend_timing)
# 3: + the ``capacity`` table (a capacity sweep, tfcompare load / the Capacity tab)
# 4: + requests.pod_before, requests.spans_restart and aggregates.n_spanning (pod restarts as
#    data; older files wrote "old→new (pod restarted during request)" into ``pod``)
# 5: + requests.preprocess_ms, aggregates.preprocess_ms/queue_ms, server_times.queue_ms and
#    backend_timing.input (tensor-input models, other serving protocols, queue time)
APPLICATION_ID = 0x54464353  # "TFCS"
FORMAT_NAME = "tfcompare-session"
SUFFIX = ".tfcs"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100

DDL_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE backends (
    idx  INTEGER PRIMARY KEY,
    spec TEXT NOT NULL              -- BackendSpec.to_dict() as JSON: never headers or credentials
);
CREATE TABLE images (
    idx      INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    path     TEXT,
    format   TEXT NOT NULL,
    width    INTEGER NOT NULL,
    height   INTEGER NOT NULL,
    nbytes   INTEGER NOT NULL,
    notes    TEXT NOT NULL,         -- JSON list of strings
    original BLOB NOT NULL
);
CREATE TABLE variants (
    image_idx INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    key       TEXT NOT NULL,
    box       INTEGER,
    format    TEXT NOT NULL,
    quality   INTEGER,
    width     INTEGER NOT NULL,
    height    INTEGER NOT NULL,
    nbytes    INTEGER NOT NULL,
    encode_ms REAL NOT NULL,
    PRIMARY KEY (image_idx, idx)
);
CREATE TABLE problems (
    idx     INTEGER PRIMARY KEY,
    image   TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE requests (
    idx           INTEGER PRIMARY KEY,
    image         TEXT NOT NULL,
    variant       TEXT NOT NULL,
    backend       TEXT NOT NULL,
    protocol      TEXT NOT NULL,
    phase         TEXT NOT NULL,
    repeat        INTEGER NOT NULL,
    ok            INTEGER NOT NULL,
    latency_ms    REAL,
    client_ms     REAL,
    bytes         INTEGER NOT NULL,
    model_version INTEGER,
    error         TEXT,
    top5          TEXT NOT NULL,    -- JSON [[label, score], ...]
    score_kind    TEXT NOT NULL,
    pod           TEXT,
    started_at    REAL NOT NULL
);
CREATE TABLE aggregates (
    idx          INTEGER PRIMARY KEY,
    image        TEXT NOT NULL,
    variant      TEXT NOT NULL,
    backend      TEXT NOT NULL,
    n            INTEGER NOT NULL,
    n_errors     INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    p50_ms       REAL,
    p90_ms       REAL,
    p99_ms       REAL,
    mean_ms      REAL,
    stdev_ms     REAL,
    few_samples  INTEGER NOT NULL,
    top1         TEXT,
    top1_agree   INTEGER,
    top5_overlap REAL,
    score_ratio  REAL
);
"""
# Schema 2 adds the server-time columns to ``aggregates`` and two tables.
DDL = (
    DDL_V1.replace(
        """    score_ratio  REAL
);""",
        """    score_ratio  REAL,
    server_ms    REAL,
    runtime_ms   REAL,
    server_exact INTEGER,
    path_ms      REAL
);""",
    )
    + """
CREATE TABLE server_times (
    idx        INTEGER PRIMARY KEY,
    image      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    backend    TEXT NOT NULL,
    sent       INTEGER NOT NULL,
    counted    INTEGER,
    server_ms  REAL,
    runtime_ms REAL,
    exact      INTEGER NOT NULL,
    note       TEXT NOT NULL
);
CREATE TABLE backend_timing (
    idx             INTEGER PRIMARY KEY,
    backend         TEXT NOT NULL,
    floor_ms        REAL,
    floor_samples   INTEGER NOT NULL,
    metrics         TEXT,           -- the metrics URL read (never credentials: see BackendSpec)
    metrics_message TEXT NOT NULL
);
"""
)
DDL_V2 = DDL
DDL_V3 = (
    DDL_V2
    + """
CREATE TABLE capacity (
    idx INTEGER PRIMARY KEY,
    doc TEXT NOT NULL               -- a capacity sweep (tfcompare.load CapacityResult) as JSON
);
"""
)
# Schema 4: where a request went when the forward moved to another pod while it was in flight.
DDL_V4 = DDL_V3.replace(
    """    started_at    REAL NOT NULL
);""",
    """    started_at    REAL NOT NULL,
    pod_before    TEXT,
    spans_restart INTEGER NOT NULL
);""",
).replace(
    """    path_ms      REAL
);""",
    """    path_ms      REAL,
    n_spanning   INTEGER NOT NULL
);""",
)
# Schema 5: the client's preprocessing time (tensor inputs), queue time (servers that report it)
# and what a backend's model takes.
DDL = (
    DDL_V4.replace(
        """    spans_restart INTEGER NOT NULL
);""",
        """    spans_restart INTEGER NOT NULL,
    preprocess_ms REAL
);""",
    )
    .replace(
        """    n_spanning   INTEGER NOT NULL
);""",
        """    n_spanning   INTEGER NOT NULL,
    preprocess_ms REAL,
    queue_ms     REAL
);""",
    )
    .replace(
        """    note       TEXT NOT NULL
);""",
        """    note       TEXT NOT NULL,
    queue_ms   REAL
);""",
    )
    .replace(
        """    metrics_message TEXT NOT NULL
);""",
        """    metrics_message TEXT NOT NULL,
    input           TEXT NOT NULL    -- what the model takes and how images are preprocessed
);""",
    )
)

REQUEST_COLUMNS_V1 = (
    "image",
    "variant",
    "backend",
    "protocol",
    "phase",
    "repeat",
    "ok",
    "latency_ms",
    "client_ms",
    "bytes",
    "model_version",
    "error",
    "top5",
    "score_kind",
    "pod",
    "started_at",
)
REQUEST_COLUMNS_V4 = (*REQUEST_COLUMNS_V1, "pod_before", "spans_restart")
REQUEST_COLUMNS = (*REQUEST_COLUMNS_V4, "preprocess_ms")
AGGREGATE_COLUMNS_V1 = (
    "image",
    "variant",
    "backend",
    "n",
    "n_errors",
    "bytes",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "stdev_ms",
    "few_samples",
    "top1",
    "top1_agree",
    "top5_overlap",
    "score_ratio",
)
AGGREGATE_COLUMNS_V2 = (*AGGREGATE_COLUMNS_V1, "server_ms", "runtime_ms", "server_exact", "path_ms")
AGGREGATE_COLUMNS_V4 = (*AGGREGATE_COLUMNS_V2, "n_spanning")
AGGREGATE_COLUMNS = (*AGGREGATE_COLUMNS_V4, "preprocess_ms", "queue_ms")
SERVER_TIME_COLUMNS_V2 = (
    "image",
    "variant",
    "backend",
    "sent",
    "counted",
    "server_ms",
    "runtime_ms",
    "exact",
    "note",
)
SERVER_TIME_COLUMNS = (*SERVER_TIME_COLUMNS_V2, "queue_ms")
TIMING_COLUMNS_V2 = ("backend", "floor_ms", "floor_samples", "metrics", "metrics_message")
TIMING_COLUMNS = (*TIMING_COLUMNS_V2, "input")
IMAGE_COLUMNS = ("idx", "name", "path", "format", "width", "height", "nbytes", "notes", "original")
VARIANT_COLUMNS = (
    "image_idx",
    "idx",
    "key",
    "box",
    "format",
    "quality",
    "width",
    "height",
    "nbytes",
    "encode_ms",
)


class SessionError(Exception):
    """A session file cannot be written or read; the message is meant for the user."""


def check_header(path: Path) -> int:
    """Reject what is not one of our session files before SQLite touches it; return its schema.

    Reads only the 100-byte SQLite header, so a text file, an image, another program's database,
    a truncated file or a file from a newer tfcompare each get their own clear message.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SessionError(f"{path}: no such file") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise SessionError(f"{path}: is a folder, not a tfcompare session file")
    if not stat.S_ISREG(st.st_mode):
        raise SessionError(f"{path}: not a regular file (a device, pipe or socket), not a session")
    if st.st_size == 0:
        raise SessionError(f"{path}: the file is empty, not a tfcompare session")
    try:
        with open(path, "rb") as fh:
            header = fh.read(_HEADER_SIZE)
    except OSError as exc:
        raise SessionError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not header.startswith(_SQLITE_MAGIC):
        raise SessionError(f"{path}: not a tfcompare session file (it is not an SQLite database)")
    if len(header) < _HEADER_SIZE:
        raise SessionError(f"{path}: the session file is damaged (truncated header)")
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    (user_version,) = struct.unpack(">I", header[60:64])
    (app_id,) = struct.unpack(">I", header[68:72])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if app_id != APPLICATION_ID:
        raise SessionError(
            f"{path}: not a tfcompare session file (an SQLite database of another application)"
        )
    if page_size < 512 or page_size & (page_size - 1):
        raise SessionError(f"{path}: the session file is damaged (bad page size in its header)")
    if change_counter == valid_for and page_count and st.st_size < page_count * page_size:
        raise SessionError(
            f"{path}: the session file is damaged (truncated: {st.st_size} bytes of "
            f"{page_count * page_size})"
        )
    if user_version > SCHEMA_VERSION:
        raise SessionError(
            f"{path}: written by a newer tfcompare (session schema {user_version}; this version "
            f"reads schema {SCHEMA_VERSION} and older). Update tfcompare to open it."
        )
    if user_version < 1:
        raise SessionError(f"{path}: the session file is damaged (no schema version)")
    return user_version


DDL_BY_SCHEMA = {1: DDL_V1, 2: DDL_V2, 3: DDL_V3, 4: DDL_V4, 5: DDL}


@functools.cache
def expected_layout(schema: int = SCHEMA_VERSION) -> dict[tuple[str, str], tuple[str, str | None]]:
    """``(type, name) -> (table it belongs to, its CREATE statement)`` for every object the DDL
    of ``schema`` makes (tables and their automatic indexes): a file must hold exactly these."""
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(DDL_BY_SCHEMA[schema])
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    finally:
        con.close()
    return {(kind, name): (table, sql) for kind, name, table, sql in rows}


@functools.cache
def column_types(table: str, schema: int = SCHEMA_VERSION) -> dict[str, tuple[str, bool]]:
    """``column -> (declared type, NOT NULL)`` of one of the DDL's tables."""
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(DDL_BY_SCHEMA[schema])
        info = con.execute(f"PRAGMA table_info({table})").fetchall()
    finally:
        con.close()
    return {name: (decl, bool(notnull or pk)) for _, name, decl, notnull, _, pk in info}


def is_session_file(path: str | os.PathLike[str]) -> bool:
    """Cheap test for drag-and-drop and file dialogs: does this look like a readable session?"""
    try:
        check_header(Path(path))
    except SessionError:
        return False
    return True
