"""Session files: exact round trip, no credentials on disk, atomic replace (even when the saving
process is SIGKILLed), and clear errors that change nothing for every kind of unusable file."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from session_results import SECRET, assert_same_result, digest, make_result, snapshot

from tfcompare.imaging.values import ImageProblem
from tfcompare.results import RequestResult, RunResult
from tfcompare.session import (
    SCHEMA_VERSION,
    SavedSession,
    SessionError,
    is_session_file,
    load_session,
    save_session,
)
from tfcompare.settings import RunSettings

# --------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path):
    result = make_result()
    path = tmp_path / "run.tfcs"
    selection = {"image": "chat-ü-1.jpg", "variant": "512-jpeg", "backends": ["gpu"], "zoom": 1.5}
    before = time.time()
    save_session(path, result, selection=selection, title="Before the GPU upgrade")
    saved = load_session(path)
    assert isinstance(saved, SavedSession)
    assert_same_result(saved.result, result)
    assert saved.selection == selection
    assert saved.title == "Before the GPU upgrade"
    assert saved.schema == SCHEMA_VERSION
    assert before <= saved.saved_at <= time.time()
    assert saved.result.backends[0].headers == ()  # credentials are not stored ...
    assert SECRET.encode() not in path.read_bytes()  # ... anywhere in the file
    assert is_session_file(path)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_a_model_version_label_survives_the_round_trip(tmp_path):
    """Open Inference Protocol servers may name a model version with a label ("v0.1.0")."""
    result = make_result()
    labelled = tuple(replace(r, model_version="v0.1.0") for r in result.requests)
    result = replace(result, requests=labelled)
    path = tmp_path / "labels.tfcs"
    save_session(path, result, selection={}, title="")
    assert_same_result(load_session(path).result, result)


def test_empty_run_and_defaults(tmp_path):
    result = RunResult(RunSettings(), (), (), (), (), ())
    save_session(tmp_path / "empty.tfcs", result)
    saved = load_session(tmp_path / "empty.tfcs")
    assert saved.result == result and saved.selection == {} and saved.title is None


def test_saving_over_a_session_replaces_it_and_keeps_permissions(tmp_path):
    path = tmp_path / "s.tfcs"
    save_session(path, make_result(1), title="old")
    os.chmod(path, 0o640)
    newer = make_result(2, backends=("gpu", "cpu-1", "cpu-8"))
    save_session(path, newer, title="new")
    saved = load_session(path)
    assert saved.title == "new"
    assert_same_result(saved.result, newer)
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tfcs"]


def test_save_errors_leave_the_old_file_alone(tmp_path):
    path = tmp_path / "s.tfcs"
    save_session(path, make_result(1), title="old")
    state = snapshot(tmp_path)
    with pytest.raises(SessionError, match="selection is not plain data"):
        save_session(path, make_result(2), selection={"when": object()})
    with pytest.raises(SessionError, match="selection must be a dict"):
        save_session(path, make_result(2), selection=["a"])  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="does not exist"):
        save_session(tmp_path / "no-such-folder" / "s.tfcs", make_result(1))
    with pytest.raises(SessionError, match="is a folder"):
        save_session(tmp_path, make_result(1))
    assert snapshot(tmp_path) == state
    assert load_session(path).title == "old"


def test_save_where_no_folder_can_be_is_a_clear_error(tmp_path):
    """Saving under a path whose "folder" is a plain file fails cleanly (root included)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    with pytest.raises(SessionError, match=r"cannot save .*s\.tfcs"):
        save_session(blocker / "s.tfcs", make_result(2))
    assert blocker.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_open_read_only_file(tmp_path):
    path = tmp_path / "s.tfcs"
    save_session(path, make_result(1), title="old")
    path.chmod(0o444)
    assert load_session(path).title == "old"  # opening needs no write access


# --------------------------------------------------------------------------- unusable files


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


def _other_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    con.execute("INSERT INTO notes (body) VALUES ('hello')")
    con.commit()
    con.close()


def _patch_header(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = value.to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such file"),
        ("empty", "file is empty"),
        ("text", "not an SQLite database"),
        ("png", "not an SQLite database"),
        ("random", "not an SQLite database"),
        ("other-sqlite", "database of another application"),
        ("truncated", "damaged"),
        ("truncated-header", "damaged"),
        ("newer-schema", "newer tfcompare"),
        ("garbled-pages", "damaged"),
        ("wrong-format", "not a tfcompare session"),
        ("missing-table", "damaged"),
        ("bad-json", "damaged"),
        ("folder", "is a folder"),
    ],
)
def test_unusable_files_give_clear_errors_and_change_nothing(tmp_path, kind, message):
    folder = tmp_path / "files"
    folder.mkdir()
    path = folder / "x.tfcs"
    good = tmp_path / "good.tfcs"
    save_session(good, make_result(2))
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("backend,latency\ngpu,12.5\n")
    elif kind == "png":
        path.write_bytes(_png_bytes())
    elif kind == "random":
        path.write_bytes(os.urandom(64 * 1024))
    elif kind == "other-sqlite":
        _other_sqlite(path)
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "truncated-header":
        path.write_bytes(good.read_bytes()[:40])
    elif kind == "newer-schema":
        path.write_bytes(good.read_bytes())
        _patch_header(path, 60, SCHEMA_VERSION + 1)  # PRAGMA user_version lives at offset 60
    elif kind == "garbled-pages":
        data = bytearray(good.read_bytes())
        data[1024:] = os.urandom(len(data) - 1024)
        path.write_bytes(bytes(data))
    elif kind in ("wrong-format", "missing-table", "bad-json"):
        path.write_bytes(good.read_bytes())
        con = sqlite3.connect(path)
        if kind == "wrong-format":
            con.execute("UPDATE meta SET value = '\"something-else\"' WHERE key = 'format'")
        elif kind == "missing-table":
            con.execute("DROP TABLE requests")
        else:
            con.execute("UPDATE requests SET top5 = '[[' WHERE idx = 3")
        con.commit()
        con.close()
    elif kind == "folder":
        path.mkdir()
    state = snapshot(folder) if kind != "folder" else None
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)  # the message names the file
    if state is not None:
        assert snapshot(folder) == state  # no journal, no -wal/-shm, no change
    assert not is_session_file(path) or kind in (
        "garbled-pages",
        "wrong-format",
        "missing-table",
        "bad-json",
    )


def test_only_plain_data_is_read(tmp_path):
    """A crafted file with SQL in its text fields is read back as text, never executed."""
    path = tmp_path / "s.tfcs"
    evil = "x'); DROP TABLE requests; --"
    result = make_result(1)
    result = replace(result, problems=(ImageProblem(evil, "__import__('os').system('false')"),))
    save_session(path, result, selection={"code": "__import__('os')"})
    saved = load_session(path)
    assert saved.result.problems == result.problems
    assert saved.selection == {"code": "__import__('os')"}
    assert len(saved.result.requests) == len(result.requests)


# --------------------------------------------------------------------------- killed while saving

_SAVER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[3])
    from session_results import make_result
    from dataclasses import replace
    from tfcompare.session import save_session

    result = make_result(3)
    count = int(sys.argv[4])
    big = tuple(replace(img, original=os.urandom(8 * 1024 * 1024)) for img in result.images * count)
    big = tuple(replace(img, name=f"{i}-{img.name}") for i, img in enumerate(big))
    result = replace(result, images=big)
    if sys.argv[2] == "before-rename":
        real_replace = os.replace
        def hold(src, dst):
            print("renaming", flush=True)
            time.sleep(120)
            real_replace(src, dst)
        os.replace = hold
    print("saving", flush=True)
    save_session(sys.argv[1], result, title="new")
    print("saved", flush=True)
    """
)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed in between
        return 0


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tfcs-partial")]


@pytest.mark.slow  # the save runs in a process of its own, killed half way
@pytest.mark.parametrize("when", ["while-writing", "before-rename"])
def test_killed_save_leaves_previous_session_intact(tmp_path, when):
    path = tmp_path / "s.tfcs"
    old = make_result(2)
    save_session(path, old, title="old")
    old_digest = digest(path)
    copies = 12 if when == "while-writing" else 1  # 3 images per copy, 8 MB each
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path), when, str(Path(__file__).parent), str(copies)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 60
        if when == "while-writing":
            # kill once the new database is partly written (20 MB of ~290 MB)
            while time.monotonic() < deadline:
                sizes = [_size(p) for p in _partials(tmp_path)]
                if sizes and max(sizes) > 20 * 1024 * 1024:
                    break
                assert proc.poll() is None, "the save finished before it could be interrupted"
                time.sleep(0.002)
            else:
                pytest.fail("no partial file appeared")
        else:
            assert proc.stdout.readline().strip() == "renaming"
            size = _partials(tmp_path)[0].stat().st_size
            assert size > 24 * 1024 * 1024  # fully written and fsynced, not yet renamed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert digest(path) == old_digest
    saved = load_session(path)
    assert saved.title == "old"
    assert_same_result(saved.result, old)
    assert _partials(tmp_path)  # the dead process's half-written file ...
    save_session(path, make_result(1), title="after")
    assert not _partials(tmp_path)  # ... is cleaned up by the next save of that session
    assert load_session(path).title == "after"
    assert json.loads(json.dumps(load_session(path).selection)) == {}


@contextmanager
def _file_size_limit(limit: int):
    """Writes that would make a file larger than ``limit`` bytes fail with EFBIG while the block
    runs (RLIMIT_FSIZE, SIGXFSZ ignored): what a full disk does to a write, in this process."""
    saved_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    saved_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, saved_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved_limit)
        signal.signal(signal.SIGXFSZ, saved_handler)


def test_disk_full_during_save_is_a_clear_error(tmp_path):
    """A write that fails half way (here: a file size limit, as on a full disk) leaves the old
    session and no partial file behind."""
    path = tmp_path / "s.tfcs"
    save_session(path, make_result(1), title="old")
    state = snapshot(tmp_path)
    result = make_result(3)
    result = replace(
        result,
        images=tuple(replace(img, original=os.urandom(512 * 1024)) for img in result.images),
    )
    with pytest.raises(SessionError) as failed, _file_size_limit(256 * 1024):
        save_session(path, result, title="new")
    assert str(failed.value).startswith(f"cannot save {path}: ")
    assert snapshot(tmp_path) == state
    assert load_session(path).title == "old"


@pytest.mark.parametrize("schema", [1, 3])
def test_older_session_opens_with_restarts_as_data(tmp_path, schema):
    """A session written before restarts were recorded as data (schema 1–3) still opens; its
    "old→new (pod restarted during request)" pod names become pod_before / spans_restart."""
    from tfcompare.session.schema import APPLICATION_ID, DDL_BY_SCHEMA, FORMAT_NAME

    path = tmp_path / "old.tfcs"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.execute(f"PRAGMA user_version={schema}")
    con.executescript(DDL_BY_SCHEMA[schema])
    meta = {
        "format": FORMAT_NAME,
        "schema": schema,
        "tfcompare": "0.1",
        "saved_at": 1.0,
        "title": "old",
        "selection": {},
        "settings": {},
        "started_at": 1.0,
        "finished_at": 2.0,
    }
    con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    for i, pod in enumerate(["p-1", "p-1→p-2 (pod restarted during request)"]):
        con.execute(
            "INSERT INTO requests VALUES (?, 'a.jpg', 'original', 'k', 'grpc', 'measured', "
            "?, 1, 5.0, 0.1, 100, 1, NULL, '[]', 'unknown', ?, 1.0)",
            (i, i, pod),
        )
    con.close()
    saved = load_session(path)
    assert saved.schema == schema
    first, second = saved.result.requests
    assert (first.pod, first.pod_before, first.spans_restart) == ("p-1", None, False)
    assert (second.pod, second.pod_before, second.spans_restart) == ("p-2", "p-1", True)
    from tfcompare.runner.aggregates import counts

    assert not counts(second)


def test_restarts_round_trip_through_a_session(tmp_path):
    def req(i: int, **pods) -> RequestResult:
        return RequestResult(
            "a.jpg",
            "original",
            "k",
            "grpc",
            "measured",
            i,
            True,
            5.0 + i,
            0.1,
            100,
            1,
            None,
            started_at=1.0 + i,
            **pods,
        )

    requests = (req(0, pod="p-1"), req(1, pod="p-2", pod_before="p-1", spans_restart=True))
    from tfcompare.runner import aggregate

    summary = aggregate(requests)
    assert [(a.n, a.n_spanning) for a in summary] == [(1, 1)]
    result = RunResult(RunSettings(), (), (), requests, (), summary)
    save_session(tmp_path / "s.tfcs", result)
    loaded = load_session(tmp_path / "s.tfcs").result
    assert loaded.requests == requests and loaded.summary == summary
