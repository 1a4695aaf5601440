"""The command line as a first-time user meets it: every command documents its exit status and shows
an example, and the usual first mistakes (the wrong port for the protocol, a typo'd host, files that
are not images, a target that is not k8s://) get a message that says what to do and the documented
exit status."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys

import pytest
from cli_inprocess import run_tfcompare
from images import photo, save

COMMANDS = (
    ["run"],
    ["load"],
    ["demo"],
    ["gui"],
    ["serve"],
    ["export-model"],
    ["export"],
    ["render"],
    ["report"],
    ["compare"],
    ["cluster"],
    ["cluster", "forward"],
)


def tfcompare(*args):
    """The command run in this process (tests/cli_inprocess.py)."""
    return run_tfcompare(*args)


def fake_backend(fake_servers, name: str = "a") -> str:
    """A ``--backend`` value for an in-memory server (tests/fake_transport.py) serving "tiny"."""
    _, spec = fake_servers.add(name)
    return f"{name}={spec.target}/tiny,protocol=fake"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_documents_its_exit_status_and_an_example(command):
    from tfcompare.cli import build_parser

    sub = build_parser()
    for word in command:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[
            word
        ]
    text = sub.format_help()
    assert "exit status" in text.lower(), text
    assert "example" in text.lower(), text
    assert f"tfcompare {' '.join(command)} " in text.split("example", 1)[1], text
    wide = [line for line in text.splitlines() if len(line) > 100]
    assert not wide, wide  # the description and epilog are wrapped by hand: no ragged lines
    for action in sub._actions:  # every option and argument says what it is
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"tfcompare {' '.join(command)}: {action.dest} has no help"


def test_help_follows_a_narrow_terminal_and_keeps_examples_whole(monkeypatch):
    """On a 60-column terminal every paragraph of the help is wrapped to fit; example lines
    stay as written, one command a line."""
    from tfcompare.cli import build_parser

    monkeypatch.setenv("COLUMNS", "60")
    demo = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["demo"]
    text = demo.format_help()
    prose = text.split("options:")[0].split("\n\n", 1)[1]  # the description, after the usage
    assert prose.strip() and all(len(line) <= 58 for line in prose.splitlines()), prose
    assert "Builds EfficientNet-Lite0" in prose and "demo exits." in prose
    examples = text.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert "  tfcompare demo --no-gui --sizes 512,256 --json demo.json" in examples


def test_render_help_says_what_it_does():
    proc = tfcompare("render", "--help")
    assert proc.returncode == 0
    assert "default 1600x1000" in proc.stdout and "a session saved by tfcompare" in proc.stdout


def test_serve_help_states_its_defaults():
    proc = tfcompare("serve", "--help")
    assert "default 8500" in proc.stdout and "default: all cores" in proc.stdout


@pytest.mark.slow  # what the servers' ports answer: real gRPC and REST servers
def test_wrong_port_for_the_protocol_says_which_port_it_is(backend_pair, tmp_path):
    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    # gRPC at the REST port
    proc = tfcompare("run", image, "--backend", f"a={backend_pair.two.rest}/tiny", "-q")
    assert proc.returncode == 1, proc.stderr
    assert "REST port (8501)? Use REST for it" in proc.stderr, proc.stderr
    # REST at the gRPC port: no raw HTTP/2 bytes in the message
    proc = tfcompare("run", image, "--backend", f"a={backend_pair.two.grpc}/tiny", "--rest", "-q")
    assert proc.returncode == 1, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("backend a:"))
    assert line.endswith(
        "(it does not answer HTTP/1.x: is this TF Serving's gRPC port (8500)? Use gRPC for it)"
    ), line
    assert line.isprintable()


def test_typod_host_is_host_name_not_found(tmp_path):
    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    proc = tfcompare("run", image, "--backend", "a=no-such-host.invalid:8500/tiny", "-q")
    assert proc.returncode == 1
    assert "backend no-such-host.invalid:8500 is not reachable (host name not found)" in proc.stderr


def test_no_usable_image_is_an_error_not_an_empty_success(fake_servers, tmp_path):
    backend = fake_backend(fake_servers)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    out = tmp_path / "out.json"
    proc = tfcompare("run", text, "--backend", backend, "-q", "--json", out)
    assert proc.returncode == 2, proc.stderr
    assert "not an image" in proc.stdout + proc.stderr
    assert "none of the 1 image(s) could be used" in proc.stderr
    assert out.exists()  # the outputs still say which image failed and why
    # one usable image beside it: the run measures it and succeeds
    good = save(photo("chelsea"), tmp_path / "cat.jpg")
    proc = tfcompare(
        "run",
        text,
        good,
        "--backend",
        backend,
        "-q",
        "--sizes",
        "128",
        "--repeats",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    assert "could be used" not in proc.stderr


def test_cluster_forward_refuses_a_target_that_is_not_k8s():
    proc = tfcompare("cluster", "forward", "127.0.0.1:8500")
    assert proc.returncode == 2
    assert "is not a k8s:// target (expected k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT])" in (
        proc.stderr
    )


@pytest.mark.slow  # tfcompare serve runs TensorFlow: in a process of its own
def test_serve_on_a_port_in_use_says_what_to_do(backend_pair, tiny_model):
    port = backend_pair.one.grpc.rsplit(":", 1)[1]
    proc = subprocess.run(
        [sys.executable, "-m", "tfcompare", "serve", tiny_model, "--port", port],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1
    assert (
        f"cannot listen for gRPC on 127.0.0.1:{port}: the port is in use (another server on "
        "it?) or not allowed: choose another port, or 0 for any free one"
    ) in proc.stderr


def test_summary_explains_its_quality_columns(fake_servers, tmp_path):
    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    proc = tfcompare(
        "run",
        image,
        "--backend",
        fake_backend(fake_servers),
        "-q",
        "--sizes",
        "128",
        "--repeats",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert all(c in header for c in ("top-1 same", "top-5 overlap", "score ratio"))
    text = " ".join(proc.stdout.split())
    assert (
        "top-1 same: images whose top class is unchanged; top-5 overlap: share of the "
        "original's top 5 still in it; score ratio: the original top-1 class's score now ÷ "
        "then, can exceed 100 %"
    ) in text


def test_report_of_a_capacity_sweep_alone_says_what_is_missing(fake_servers, tmp_path):
    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    session = tmp_path / "sweep.tfcs"
    proc = tfcompare(
        "load",
        image,
        "--backend",
        fake_backend(fake_servers),
        "-q",
        "--variants",
        "128-jpeg",
        "--concurrency",
        "1",
        "--window-s",
        "0.1",
        "--max-windows",
        "3",
        "--save",
        session,
        "--csv",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    # --csv -: one row per level on stdout, the capacity table on stderr
    [row] = list(csv.DictReader(proc.stdout.splitlines()))
    assert (row["backend"], row["variant"], row["level"]) == ("a", "128-jpeg", "1")
    assert "sustained" in proc.stderr.lower() or "req/s" in proc.stderr
    proc = tfcompare("report", session, "--out", tmp_path / "r.html")
    assert proc.returncode == 0, proc.stderr
    assert (
        "Backends: Not enough data: the session has no per-request measurements, and the "
        "capacity sweep has no two backends with a knee"
    ) in proc.stdout
    assert "only 0 backend" not in proc.stdout
