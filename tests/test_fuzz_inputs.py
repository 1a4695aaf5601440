"""Fuzzing the untrusted inputs this process reads: session files and images.

Hypothesis generates damaged, crafted and random variants of real files. Whatever it makes, opening
a session ends in a SavedSession or a SessionError, and loading an image in an ImageInfo or an
ImageLoadError — never another exception (a traceback for the user), never a hang (each case has a
deadline; pytest-timeout stops a real hang), and memory stays bounded (the process's peak RSS may
not grow by more than ``_MAX_GROWTH`` over all cases). The number of cases is fixed and the run is
derandomized, so the suite stays short and repeatable.
"""

from __future__ import annotations

import io
import resource
import shutil
import sqlite3
import tempfile
from datetime import timedelta
from pathlib import Path

import images
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from session_results import make_result

from tfcompare.imaging import ImageLoadError, build_ladder, describe
from tfcompare.imaging.values import ImageInfo
from tfcompare.session import SavedSession, SessionError, load_session, save_session
from tfcompare.settings import RunSettings

_MAX_GROWTH = 768 << 20
_FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=10),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@pytest.fixture(scope="module")
def workdir():
    folder = Path(tempfile.mkdtemp(prefix="tfcompare-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def good_session(workdir) -> Path:
    path = workdir / "good.tfcs"
    save_session(path, make_result(2), selection={"image": "chat-ü-0.jpg"}, title="good")
    return path


# --------------------------------------------------------------------------- sessions

_COLUMNS = (  # (table, column): the JSON columns first, then every kind of declared type
    ("meta", "value"),
    ("backends", "spec"),
    ("images", "notes"),
    ("requests", "top5"),
    ("meta", "key"),
    ("images", "name"),
    ("images", "width"),
    ("images", "original"),
    ("variants", "nbytes"),
    ("variants", "encode_ms"),
    ("problems", "message"),
    ("requests", "phase"),
    ("requests", "repeat"),
    ("requests", "ok"),
    ("requests", "latency_ms"),
    ("requests", "started_at"),
    ("aggregates", "n"),
    ("aggregates", "top1_agree"),
)
_CRAFTED = st.sampled_from(
    [
        "[" * 5000,
        '{"a":' * 3000,
        "NaN",
        '[["x", NaN]]',
        "9" * 5000,
        "1e999",
        "{}",
        "[]",
        "null",
        '"measured"',
        '{"name": 1}',
        '{"format": "tfcompare-session"}',
        "[[1, 2, 3]]",
        '"x"' * 3,
        2**63 - 1,
        -1,
        float("nan"),
        float("inf"),
        b"\x00\xff",
        "",
    ]
)
_VALUES = st.one_of(
    _CRAFTED,
    _CRAFTED,
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.binary(max_size=50),
)
_STRUCTURE = st.sampled_from(
    [
        "CREATE VIEW v AS SELECT 1",
        "CREATE TABLE extra (x)",
        "CREATE TRIGGER t AFTER INSERT ON meta BEGIN SELECT 1; END",
        "CREATE INDEX i ON requests (image)",
        "DROP TABLE problems",
        "DROP TABLE meta",
        "ALTER TABLE images ADD COLUMN x",
        "PRAGMA journal_mode=WAL",
        "DELETE FROM meta",
        "INSERT INTO problems (image, message) SELECT image, message FROM problems",
    ]
)
_SQL_CHANGE = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(_COLUMNS), _VALUES).map(
        lambda t: (t[0], *t[1], t[2])
    ),
    _STRUCTURE.map(lambda sql: ("sql", sql)),
)
_BYTE_CHANGE = st.tuples(
    st.integers(min_value=0, max_value=1 << 20), st.binary(min_size=1, max_size=64)
)


def _apply_sql(path: Path, changes) -> None:
    con = sqlite3.connect(path)
    try:
        for change in changes:
            try:
                if change[0] == "set":
                    _, table, column, value = change
                    con.execute(f"UPDATE {table} SET {column} = ?", (value,))
                else:
                    con.execute(change[1])
            except (sqlite3.Error, OverflowError):
                pass  # the attacker's tool refused this change; the file stays as it was
        con.commit()
    finally:
        con.close()


@settings(_FUZZ, max_examples=100)
@given(
    sql=st.lists(_SQL_CHANGE, max_size=3),
    damage=st.lists(_BYTE_CHANGE, max_size=3),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 20)),
)
def test_fuzzed_sessions_open_or_give_a_session_error(workdir, good_session, sql, damage, cut):
    peak = _peak_rss()
    path = workdir / "fuzzed.tfcs"
    for stale in workdir.glob("fuzzed.tfcs*"):
        stale.unlink()
    shutil.copy(good_session, path)
    _apply_sql(path, sql)
    data = bytearray(path.read_bytes())
    for offset, chunk in damage:
        at = offset % max(len(data), 1)
        data[at : at + len(chunk)] = chunk
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path.write_bytes(bytes(data))
    before = sorted(p.name for p in workdir.iterdir())
    try:
        saved = load_session(path)
    except SessionError as exc:
        assert str(exc) and str(path) in str(exc)
    else:
        assert isinstance(saved, SavedSession)
    assert sorted(p.name for p in workdir.iterdir()) == before  # opening wrote nothing
    assert _peak_rss() - peak < _MAX_GROWTH


# --------------------------------------------------------------------------- images


def _encoded(fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img = images.photo().resize((96, 64))
    if fmt == "GIF":
        img = img.convert("P")
    img.save(buf, fmt, **params)
    return buf.getvalue()


_SEEDS = {fmt: _encoded(fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")}
_SEEDS["JPEG-progressive"] = _encoded("JPEG", progressive=True)
_SEEDS["PNG-bomb"] = images.png_with_size(30_000, 30_000)
_SMALL = RunSettings(sizes=(64, 32), formats=("jpeg", "png", "webp"))
_LARGER = RunSettings(sizes=(512,))  # larger than the image: no variant is made, only the original


@_FUZZ
@given(
    seed=st.sampled_from(sorted(_SEEDS)),
    damage=st.lists(
        st.tuples(st.integers(min_value=0, max_value=1 << 16), st.binary(min_size=1, max_size=8)),
        max_size=6,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 16)),
    junk=st.binary(max_size=64),
)
def test_fuzzed_images_load_or_give_an_image_error(workdir, seed, damage, cut, junk):
    peak = _peak_rss()
    data = bytearray(_SEEDS[seed])
    for offset, chunk in damage:
        at = offset % len(data)
        data[at : at + len(chunk)] = chunk
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    data += junk
    path = workdir / "fuzzed.img"
    path.write_bytes(bytes(data))
    for load in (
        lambda: build_ladder(path, _SMALL),
        lambda: build_ladder(bytes(data), _LARGER),
        lambda: describe(path),
    ):
        try:
            out = load()
        except ImageLoadError as exc:
            assert exc.message.strip()  # never an empty message
        else:
            assert isinstance(out, ImageInfo | tuple)
            if isinstance(out, ImageInfo):  # an accepted image decodes in full
                with Image.open(io.BytesIO(out.original)) as im:
                    im.load()
    assert _peak_rss() - peak < _MAX_GROWTH


def test_fuzz_seeds_are_usable_images():
    """The fuzzer starts from real files of every format read (so it explores past headers)."""
    for name, data in _SEEDS.items():
        if name != "PNG-bomb":
            assert Image.open(io.BytesIO(data)).size == (96, 64)
            build_ladder(data, _SMALL)
