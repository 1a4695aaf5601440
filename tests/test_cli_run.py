"""``tfcompare run`` as a user runs it: a subprocess against real local backends."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import tfcompare
from images import bad_inputs, photo, save

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    save(photo("chelsea"), folder / "cat.jpg")
    (folder / "nested").mkdir()
    save(photo("coffee"), folder / "nested" / "coffee.png")
    (folder / "notes.txt").write_text("not an image, and not an image extension either")
    return folder


def test_run_json_csv_and_summary(backend_pair, photos, tmp_path):
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    proc = tfcompare(
        "run",
        photos,
        bad_inputs(tmp_path / "bad")["truncated.jpg"],
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--backend",
        f"two={backend_pair.two.grpc}/tiny:predict_images",
        "--sizes",
        "256,128",
        "--formats",
        "jpeg,png",
        "--repeats",
        "2",
        "--json",
        out_json,
        "--csv",
        out_csv,
        "--save",
        tmp_path / "s.tfcs",
    )
    assert proc.returncode == 0, proc.stderr
    # summary table on stdout: every variant × backend, plus the cold requests and the bad image
    for needle in ("p50 ms", "original", "256-jpeg", "128-png", "one", "two", "cold first request"):
        assert needle in proc.stdout
    assert "truncated.jpg" in proc.stdout
    # one wording for a ready backend everywhere (CLI, status lights, run notes)
    assert "backend two: AVAILABLE · version 1 · signature predict_images" in proc.stderr
    data = json.loads(out_json.read_text())
    assert data["format"] == "tfcompare-run/1"
    n_variants = 5
    assert len(data["requests"]) == 2 * 2 * n_variants * 2
    req = data["requests"][0]
    for key in ("image", "variant", "backend", "ok", "latency_ms", "bytes", "error", "top5"):
        assert key in req
    assert all(r["ok"] for r in data["requests"])
    assert all(len(r["top5"]) == 5 and isinstance(r["top5"][0][0], str) for r in data["requests"])
    assert {r["image"] for r in data["requests"]} == {"cat.jpg", "coffee.png"}
    assert len(data["summary"]) == 2 * 2 * n_variants
    assert [e["image"] for e in data["errors"]] == ["truncated.jpg"]
    assert len(data["cold"]) == 2
    assert "headers" not in json.dumps(data["backends"])
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == len(data["requests"])
    assert {r["backend"] for r in rows} == {"one", "two"}
    assert all(float(r["latency_ms"]) > 0 for r in rows)
    # the saved session exports exactly what the run wrote
    exported = tmp_path / "exported.json"
    proc = tfcompare("export", tmp_path / "s.tfcs", "--json", exported)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(exported.read_text())
    for key in ("requests", "cold", "summary", "errors", "settings", "backends", "images"):
        assert again[key] == data[key], key


def test_run_save_to_unwritable_place_is_a_clear_error(backend_pair, photos, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = tfcompare(
        "run",
        photos / "cat.jpg",
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--repeats",
        "1",
        "--save",
        blocker / "s.tfcs",
    )
    assert proc.returncode == 1
    assert "tfcompare run: error:" in proc.stderr and "Traceback" not in proc.stderr
    assert "128-jpeg" in proc.stdout  # the measurements were still printed


def test_run_over_rest(backend_pair, photos):
    proc = tfcompare(
        "run",
        photos / "cat.jpg",
        "--rest",
        "--backend",
        f"two={backend_pair.two.rest}/tiny",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--repeats",
        "1",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "128-jpeg" in proc.stdout and "failed" not in proc.stdout


def test_run_completes_with_a_dead_backend(backend_pair, photos):
    proc = tfcompare(
        "run",
        photos / "cat.jpg",
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--backend",
        "dead=127.0.0.1:1/tiny",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--repeats",
        "1",
        "--timeout",
        "3",
    )
    assert proc.returncode == 1, proc.stderr  # one backend never answered; the rows are output
    assert "dead never answered successfully" in proc.stderr
    assert "backend dead:" in proc.stderr and "not reachable" in proc.stderr.lower()
    assert "dead: 2 request(s) failed" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "nonsense"], "bad backend 'nonsense'"),
        (["--backend", "a=127.0.0.1:99999"], "out of range"),
        (["--backend", "a=h:1", "--backend", "a=h:2"], "unique: a"),
        (["--backend", "a=h:1", "--formats", "gif"], "unknown format(s) gif"),
        (["--backend", "a=h:1", "--sizes", "big"], "--sizes must be whole numbers"),
        (["--backend", "a=h:1", "--repeats", "0"], "--repeats"),
        (["--backend", "a=h:1", "--header", "novalue"], "NAME:VALUE"),
    ],
)
def test_unusable_arguments(photos, args, message):
    proc = tfcompare("run", photos / "cat.jpg", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_missing_file_is_a_usage_error(tmp_path):
    proc = tfcompare("run", tmp_path / "nope.jpg", "--backend", "a=127.0.0.1:8500")
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr and "nope.jpg" in proc.stderr


def test_help_is_readable():
    proc = tfcompare("--help")
    assert proc.returncode == 0
    for cmd in ("run", "serve", "export-model"):
        assert cmd in proc.stdout
    run_help = tfcompare("run", "--help").stdout
    assert "NAME=HOST:PORT[/MODEL[:SIGNATURE]]" in run_help and "--repeats" in run_help


def test_ctrl_c_cancels_promptly(backend_pair, photos):
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(photos),
            "--backend",
            f"one={backend_pair.one.grpc}/tiny",
            "--repeats",
            "200",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "progress" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        assert "progress" in line  # the first tenth of the requests is done: the run is under way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # it ends (a hang fails here) ...
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "cancelled" in err and "p50 ms" not in out
    # ... without sending the rest of the run's requests first
    shown = [x for x in err.splitlines() if x.startswith("progress:")]
    assert "(100%)" not in line and not any("(100%)" in x for x in shown), err[-2000:]


def test_every_command_module_is_registered_and_a_missing_one_is_an_error(monkeypatch):
    """No command silently disappears from ``tfcompare --help`` when its module fails to load."""
    from tfcompare import cli

    parser = cli.build_parser()
    registered = next(a for a in parser._actions if a.dest == "command").choices
    assert {name.replace("_", "-") for name in cli.COMMANDS} <= set(registered)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "nosuch"))
    with pytest.raises(ModuleNotFoundError, match="tfcompare.cli.nosuch_cmd"):
        cli.build_parser()


def test_dash_writes_json_or_csv_to_stdout_and_the_table_to_stderr(backend_pair, photos, tmp_path):
    """``--json -`` / ``--csv -`` make stdout pure data for a pipe (``| jq``), as ``compare`` does."""
    proc = tfcompare(
        "run",
        photos / "cat.jpg",
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--repeats",
        "1",
        "--quiet",
        "--json",
        "-",
        "--save",
        tmp_path / "s.tfcs",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing else on stdout
    assert data["format"] == "tfcompare-run/1" and data["requests"]
    assert "128-jpeg" in proc.stderr and "p50 ms" in proc.stderr
    assert not Path("-").exists()  # no file named "-" beside the command
    proc = tfcompare("export", tmp_path / "s.tfcs", "--csv", "-")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    assert len(rows) == len(data["requests"]) and rows[0]["variant"] == "original"
    proc = tfcompare("export", tmp_path / "s.tfcs", "--json", "-", "--csv", "-")
    assert proc.returncode == 2
    assert "--json and --csv cannot both be '-'" in proc.stderr and not proc.stdout


def test_progress_total_is_right_from_the_first_line(backend_pair, tmp_path):
    """Images smaller than some boxes skip them (never upscaled): the plan reads every image's
    size first, so the progress total on the first line is the one the run ends with (the
    walkthrough's demo said "1/480 requests", then "32/312")."""
    small = save(photo("chelsea").resize((300, 200)), tmp_path / "small.jpg")
    big = save(photo("coffee").resize((1200, 800)), tmp_path / "big.jpg")
    proc = tfcompare(
        "run",
        small,
        big,
        "--backend",
        f"one={backend_pair.one.grpc}/tiny",
        "--sizes",
        "2048,1024,512,128",
        "--formats",
        "jpeg",
        "--warmup",
        "0",
        "--repeats",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")]
    totals = {int(line.split("/")[1].split()[0]) for line in lines}
    # small: original + 128; big: original + 1024, 512, 128; 2 repeats; + the cold request
    assert totals == {(2 + 4) * 2 + 1}, lines
    assert lines[-1].startswith(f"progress: {(2 + 4) * 2 + 1}/") and lines[-1].endswith("(100%)")
