"""Control characters from others — a server's error text, names and titles inside a session, names
read from a cluster — are shown as escapes (``\\x1b``) by every command, never obeyed by the
terminal (window title, clear screen, overwritten or fake lines)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading

import pytest
from cli_inprocess import run_tfcompare
from named_sessions import RAW_CONTROLS, TERMINAL_ATTACK, named_session

from tfcompare.terminal import one_line, printable


def tfcompare(*args) -> subprocess.CompletedProcess[str]:
    """The command's output as it was written (no newline translation: a raw CR stays a CR for
    the checks below to see it)."""
    return run_tfcompare(*args)


def assert_escaped(text: str, *, shown: str = "\\x1b]0;owned\\x07") -> None:
    for raw in RAW_CONTROLS:
        assert raw not in text, (raw, text[-3000:])
    assert shown in text, text[-3000:]


def test_printable_shows_controls_as_escapes_and_keeps_text():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("\x9b31m\x07\x00\x7f") == "\\x9b31m\\x07\\x00\\x7f"
    assert printable("x\u2028y\u2029z\r") == "x\\u2028y\\u2029z\\x0d"
    assert printable("gpu\u202e1.15\u2066") == "gpu\\u202e1.15\\u2066"
    assert printable("two\nlines\ttab") == "two\nlines\ttab"  # a table's own layout stays
    assert one_line("two\nlines\ttab") == "two\\x0alines\\x09tab"  # a name stays on its line
    kept = "Größe 日本 عربى 👨\u200d👩\u200d👧 – “q”"
    assert printable(kept) == kept  # letters of any script, joiners of emoji sequences


def test_report_compare_and_export_escape_names_and_titles_from_a_session(tmp_path):
    session = named_session(
        tmp_path / "names.tfcs",
        backends=(f"gpu{TERMINAL_ATTACK}", "cpu"),
        images=(f"cat{TERMINAL_ATTACK}.jpg", "dog.jpg"),
        title=f"weekly{TERMINAL_ATTACK}",
    )
    report = tfcompare("report", session, "--out", tmp_path / "r.html")
    assert report.returncode == 0, report.stderr
    assert_escaped(report.stdout + report.stderr)
    compare = tfcompare("compare", session, session, "--fail-on", "p50:+10%")
    assert compare.returncode == 0, compare.stderr
    assert_escaped(compare.stdout + compare.stderr)
    assert "gpu\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x9b31m\\x0dFAKE\\u2028LINE" in compare.stdout
    # data asked for on standard output (a pipe here) is exact; the table went to stderr
    export = tfcompare("export", session, "--capacity-csv", "-")
    assert export.returncode == 0, export.stderr
    assert f"gpu{TERMINAL_ATTACK}" in export.stdout
    # an unreadable session whose file name carries the sequence
    odd = tmp_path / f"odd{TERMINAL_ATTACK}.tfcs"
    odd.write_bytes(b"not a session")
    for args in (("export", odd, "--json", tmp_path / "x.json"), ("report", odd)):
        proc = tfcompare(*args)
        assert proc.returncode == 1
        assert_escaped(proc.stderr, shown="odd\\x1b]0;owned\\x07")


class ErrorServer:
    """HTTP/1.1 on 127.0.0.1 answering every request with a 500 whose TF-Serving-style error text
    carries terminal escape sequences."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        body = json.dumps({"error": f"model{TERMINAL_ATTACK} failed"}).encode()
        answer = (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        try:
            conn.settimeout(10)
            while conn.recv(65536):
                conn.sendall(answer)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def error_server():
    server = ErrorServer()
    yield server
    server.close()


def test_run_and_load_escape_a_servers_error_text(error_server, tmp_path):
    from images import photo

    image = tmp_path / "cat.jpg"
    photo("chelsea").save(image, "JPEG")
    backend = f"evil=127.0.0.1:{error_server.port}/m"
    run = tfcompare("run", image, "--backend", backend, "--rest", "--repeats", "1")
    assert run.returncode != 0
    assert_escaped(run.stdout + run.stderr, shown="model\\x1b]0;owned\\x07")
    load = tfcompare(
        "load", image, "--backend", backend, "--rest", "--concurrency", "1", "--window-s", "0.2"
    )
    assert_escaped(load.stdout + load.stderr, shown="model\\x1b]0;owned\\x07")


def test_cluster_list_escapes_names_a_cluster_sends(kube):
    from kube_api_server import add_tfs_service

    add_tfs_service(kube, "resnet", model_name=f"tiny{TERMINAL_ATTACK}")
    listed = tfcompare("cluster", "list")
    assert listed.returncode == 0, listed.stderr
    assert_escaped(listed.stdout, shown="tiny\\x1b]0;owned\\x07")
    rows = [line for line in listed.stdout.splitlines() if "resnet" in line]
    assert len(rows) == 1 and "tiny\\x1b]0;owned" in rows[0]  # one row, the name escaped in it
    assert not any(line.startswith(("FAKE", "LINE")) for line in listed.stdout.splitlines())
