"""Hostile image paths: only regular files are images, reads are bounded by the bytes actually
read, and every bad file gets its own clear, non-empty per-image error — in ``tfcompare run`` and in
the window's probe (``describe``) alike, since both go through imaging's one loading path."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import images
import pytest
from cli_inprocess import run_tfcompare

from tfcompare.imaging import ImageLoadError, build_ladder, describe
from tfcompare.settings import RunSettings


def run_cli(spec, *paths: Path) -> subprocess.CompletedProcess[str]:
    """``tfcompare run`` against an in-memory backend (``fake_servers``), with bounded memory."""
    return run_tfcompare(
        "run",
        *paths,
        "--backend",
        f"one={spec.target}/tiny,protocol=fake",
        "--sizes",
        "64",
        "--formats",
        "jpeg",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--quiet",
    )


def finishes(fn, *args, within: float = 20.0, unblock: Path | None = None):
    """Run ``fn(*args)`` in a thread; the outcome (value or exception), or fail if it hangs. A
    reader stuck on the FIFO ``unblock`` is released afterwards so the test leaves no thread."""
    outcome: list = []

    def target():
        try:
            outcome.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive() and unblock is not None:
        _release_readers(unblock)
        thread.join(5)
    assert outcome, f"{fn.__name__} did not finish within {within} s"
    return outcome[0]


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


def test_a_fifo_named_like_an_image_is_refused_not_waited_on(fifo):
    for fn in (build_ladder, describe):  # the run's loader and the window's probe
        err = finishes(fn, fifo, unblock=fifo)
        assert isinstance(err, ImageLoadError), err
        assert "named pipe" in err.message and str(fifo) in err.message


def test_run_with_a_fifo_finishes_with_a_per_image_error(fake_servers, fifo, tmp_path):
    _, spec = fake_servers.add("one")
    good = images.save(images.photo(), tmp_path / "cat.jpg")
    proc = finishes(run_cli, spec, fifo, good, within=60, unblock=fifo)  # hung on the FIFO: fails
    assert not isinstance(proc, BaseException), proc
    assert "pipe.png" in proc.stderr + proc.stdout and "named pipe" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 and "1 image(s)" in proc.stdout  # the good image was measured


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "z.png"
    link.symlink_to("/dev/zero")
    err = finishes(build_ladder, link)
    assert isinstance(err, ImageLoadError) and "a device" in err.message
    with pytest.raises(ImageLoadError, match="a device"):
        describe(link)


def test_run_with_dev_zero_stays_within_memory(fake_servers, tmp_path):
    """On the old reader this grew until memory ran out, then said 'could not read image: '."""
    _, spec = fake_servers.add("one")
    link = tmp_path / "z.png"
    link.symlink_to("/dev/zero")
    proc = run_cli(spec, link)
    out = proc.stderr + proc.stdout
    assert "z.png" in out and "a device" in out, out[-2000:]
    assert "could not read image: \n" not in out and "MemoryError" not in out


def test_reading_is_bounded_by_bytes_read_not_the_reported_size(monkeypatch):
    """/proc files are regular files that report 0 bytes and hold more."""
    from tfcompare.imaging import loading

    source = Path("/proc/self/maps")
    assert source.stat().st_size == 0 and len(source.read_bytes()) > 1000
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ImageLoadError, match="too large"):
        build_ladder(source)


def test_a_truncated_jpeg_smaller_than_every_box_is_refused(tmp_path):
    data = images.jpeg_bytes(images.photo().resize((120, 80)))
    path = tmp_path / "small-truncated.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])
    settings = RunSettings(sizes=(512, 256))  # the image is smaller than every box
    with pytest.raises(ImageLoadError, match="truncated"):
        build_ladder(path, settings)
    info = build_ladder(data, settings)  # the intact file still gives its original
    assert [v.key for v in info.variants] == ["original"]


def test_window_rows_of_a_fifo_and_a_device_resolve_with_their_error(qtbot, fifo, tmp_path):
    """Dropped on the window, each gets its own row error (the row used to stay unresolved and
    the window's probe thread kept the process from exiting)."""
    from gui_helpers import drop_event, make_window

    zero = tmp_path / "z.png"
    zero.symlink_to("/dev/zero")
    good = images.save(images.photo(), tmp_path / "cat.jpg")
    window = make_window(qtbot)
    try:
        window.dropEvent(drop_event([fifo, zero, good]))
        qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=20_000)
    finally:
        _release_readers(fifo)
    errors = {e.name: e.error for e in window.controller.images}
    assert "named pipe" in errors["pipe.png"] and "a device" in errors["z.png"]
    assert errors["cat.jpg"] is None
    assert "named pipe" in window.images_panel.list.item(0).toolTip()  # the row: its start


def _release_readers(fifo: Path) -> None:
    """Open and close the FIFO for writing: a reader blocked on it gets end-of-file."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # ENXIO: nobody is waiting to read it
