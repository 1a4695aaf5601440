"""Crafted session files: opening one (as ``tfcompare export`` and the window do) is bounded in
time and memory, writes nothing, and answers every attack with a SessionError naming the file —
never a hang, a traceback or a file that the reader silently misreads."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cli_inprocess import run_tfcompare
from session_results import make_result, snapshot

from tfcompare.session import SessionError, load_session, save_session


def export(session: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``tfcompare export`` in a fresh interpreter with bounded memory."""
    return run_tfcompare("export", session, "--json", out)


@pytest.fixture
def session_reader():
    from tfcompare.session import reader

    return reader


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.tfcs"
    save_session(path, make_result(2), selection={"image": "chat-ü-0.jpg"}, title="good")
    return path


def craft(good: Path, folder: Path, *statements: str, params: tuple = ()) -> Path:
    """A copy of ``good`` changed with SQL, as an attacker with sqlite3 would change it."""
    folder.mkdir(exist_ok=True)
    path = folder / "crafted.tfcs"
    shutil.copy(good, path)
    con = sqlite3.connect(path)
    for sql in statements:
        con.execute(sql, params if "?" in sql else ())
    con.commit()
    con.close()
    return path


def open_fails(path: Path, message: str) -> SessionError:
    before = snapshot(path.parent)
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert message in str(info.value), str(info.value)
    assert str(path) in str(info.value)
    assert snapshot(path.parent) == before  # opening wrote nothing
    return info.value


# --------------------------------------------------------------------------- the attacks

_RECURSIVE_META = (
    "CREATE VIEW meta AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
    "SELECT 'k' || n AS key, '\"' || hex(randomblob(64)) || '\"' AS value FROM r"
)
_ZEROBLOB_PROBLEMS = (
    "CREATE VIEW problems AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
    "LIMIT 4) SELECT n AS idx, 'x.png' AS image, zeroblob(400000000) AS message FROM r"
)


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (("DROP TABLE meta", _RECURSIVE_META), "not a tfcompare session"),
        (("DROP TABLE problems", _ZEROBLOB_PROBLEMS), "not a tfcompare session"),
    ],
    ids=["recursive-view-meta", "zeroblob-view-problems"],
)
def test_views_replacing_tables_are_refused_by_the_cli(good, tmp_path, statements, message):
    """The two crafted files of the issue: ``tfcompare export`` ran forever / took 1.4 GB."""
    path = craft(good, tmp_path / "in", *statements)
    before = snapshot(path.parent)
    proc = export(path, tmp_path / "out.json")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert message in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()
    assert snapshot(path.parent) == before


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (("CREATE TABLE extra (x)",), "not a tfcompare session"),
        (
            ("CREATE TRIGGER t AFTER INSERT ON meta BEGIN DELETE FROM requests; END",),
            "not a tfcompare session",
        ),
        (("CREATE INDEX by_image ON requests (image)",), "not a tfcompare session"),
        (
            (
                "DROP TABLE problems",
                "CREATE TABLE problems (idx INTEGER PRIMARY KEY, image, message)",
            ),
            "damaged",
        ),
        (("ALTER TABLE requests ADD COLUMN extra TEXT",), "damaged"),
    ],
    ids=["extra-table", "trigger", "extra-index", "untyped-columns", "extra-column"],
)
def test_only_the_exact_session_layout_is_read(good, tmp_path, statements, message):
    open_fails(craft(good, tmp_path / "in", *statements), message)


_DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE images SET notes = ?", "nested too deeply"),
        ("UPDATE requests SET top5 = ?", "nested too deeply"),
        ("UPDATE meta SET value = ? WHERE key = 'selection'", "nested too deeply"),
        ("UPDATE backends SET spec = ?", "nested too deeply"),
    ],
    ids=["notes", "top5", "meta", "backend-spec"],
)
def test_deeply_nested_json_is_damage_not_a_recursion_error(good, tmp_path, sql, message):
    open_fails(craft(good, tmp_path / "in", sql, params=(_DEEP,)), message)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE images SET width = '" + "9" * 5000 + "'",
        "UPDATE variants SET nbytes = '" + "9" * 5000 + "'",
        "UPDATE requests SET repeat = 9223372036854775807",
        "UPDATE aggregates SET n = -1",
        "UPDATE images SET height = 'tall'",
        "UPDATE requests SET latency_ms = 'nan'",
        "UPDATE requests SET started_at = 1e999",
        "UPDATE requests SET ok = 7",
        "UPDATE requests SET image = x'00ff'",
    ],
    ids=[
        "5000-digit-width",
        "5000-digit-nbytes",
        "int64-max-repeat",
        "negative-count",
        "text-in-integer",
        "nan-text-in-real",
        "infinite-real",
        "ok-not-boolean",
        "blob-in-text",
    ],
)
def test_values_out_of_type_or_range_are_damage(good, tmp_path, sql):
    err = open_fails(craft(good, tmp_path / "in", sql), "damaged")
    assert "Overflow" not in str(err) and "Traceback" not in str(err)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("started_at", "NaN"),
        ("finished_at", "Infinity"),
        ("saved_at", '"yesterday"'),
        ("selection", "[1, 2]"),
        ("settings", '{"sizes": ["big"]}'),
        ("settings", '{"jpeg_quality": 1e400}'),
        ("title", "{}"),
    ],
)
def test_meta_values_have_types(good, tmp_path, key, value):
    path = craft(
        good, tmp_path / "in", "UPDATE meta SET value = ? WHERE key = ?", params=(value, key)
    )
    open_fails(path, "damaged")


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": "smtp"},
        {"protocol": 5},
        {"version": "1; DROP"},
        {"version": 10**30},
        {"tls_ca": [1]},
        {"signature": {"a": 1}},
        {"timeout_s": "NaN"},
        {"timeout_s": -1},
        {"name": None},
    ],
)
def test_backend_spec_fields_have_types(good, tmp_path, change):
    spec = json.loads(sqlite3.connect(good).execute("SELECT spec FROM backends").fetchone()[0])
    spec.update(change)
    path = craft(good, tmp_path / "in", "UPDATE backends SET spec = ?", params=(json.dumps(spec),))
    open_fails(path, "damaged")


def test_started_at_nan_never_reaches_json_export(good, tmp_path):
    """The issue's NaN: ``export --json`` wrote bare ``NaN``; the session is now refused."""
    path = craft(good, tmp_path / "in", "UPDATE meta SET value = 'NaN' WHERE key = 'started_at'")
    proc = export(path, tmp_path / "out.json")
    assert proc.returncode == 1 and "damaged" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- bounds


def test_row_counts_are_bounded(good, tmp_path, monkeypatch, session_reader):
    path = craft(good, tmp_path / "in")
    rows = sqlite3.connect(good).execute("SELECT count(*) FROM requests").fetchone()[0]
    monkeypatch.setitem(session_reader.MAX_ROWS, "requests", rows - 1)
    err = open_fails(path, "too large")
    assert "requests" in str(err)


def test_file_size_is_bounded(good, tmp_path, monkeypatch, session_reader):
    monkeypatch.setattr(session_reader, "MAX_FILE_BYTES", good.stat().st_size - 1)
    open_fails(craft(good, tmp_path / "in"), "too large")


def test_text_and_blob_sizes_are_bounded(good, tmp_path, monkeypatch, session_reader):
    monkeypatch.setattr(session_reader, "MAX_TEXT_CHARS", 1000)
    open_fails(
        craft(good, tmp_path / "a", "UPDATE problems SET message = ?", params=("m" * 1001,)),
        "too large",
    )
    monkeypatch.setattr(session_reader, "MAX_BLOB_BYTES", 100)
    open_fails(craft(good, tmp_path / "b"), "too large")


def test_a_slow_read_stops_at_the_deadline(good, tmp_path, monkeypatch, session_reader):
    """The progress handler's deadline (the last line of defence against a query that runs
    long): with no time at all, even the good file is refused, quickly and cleanly."""
    monkeypatch.setattr(session_reader, "DEADLINE_S", 0.0)
    open_fails(craft(good, tmp_path / "in"), "too large")


def test_a_good_session_still_opens(good):
    saved = load_session(good)
    assert saved.title == "good" and len(saved.result.requests) == len(make_result(2).requests)
    assert math.isfinite(saved.result.started_at)


# --------------------------------------------------------------------------- opening writes nothing


def test_opening_a_wal_session_writes_nothing_beside_it(good, tmp_path):
    path = craft(good, tmp_path / "in", "PRAGMA journal_mode=WAL")
    assert path.read_bytes()[18:20] == b"\x02\x02"  # the header says WAL
    before = snapshot(path.parent)
    saved = load_session(path)
    assert saved.title == "good"
    assert snapshot(path.parent) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["crafted.tfcs"]  # no -wal, no -shm


def test_a_fifo_or_device_is_not_a_session(tmp_path):
    fifo = tmp_path / "pipe.tfcs"
    import os

    os.mkfifo(fifo)
    with pytest.raises(SessionError, match="not a regular file"):
        load_session(fifo)
    dev = tmp_path / "zero.tfcs"
    dev.symlink_to("/dev/zero")
    with pytest.raises(SessionError, match="not a regular file"):
        load_session(dev)


def test_window_open_session_refuses_a_crafted_file_and_keeps_its_state(
    good, tmp_path, qtbot, monkeypatch
):
    """File → Open session… on the recursive-VIEW file: a message naming the file, promptly,
    and the window keeps what it had."""
    from gui_helpers import find_action, make_window, small_photos
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    crafted = craft(good, tmp_path / "in", "DROP TABLE meta", _RECURSIVE_META)
    window = make_window(qtbot)
    window.controller.add_paths(small_photos(tmp_path / "photos"))
    told = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: told.append(a[2]))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(crafted), ""))
    find_action(window, "File", "Open session…").trigger()
    assert told and "not a tfcompare session" in told[0] and "crafted.tfcs" in told[0]
    assert len(window.controller.images) == 2 and window.sessions.path is None
