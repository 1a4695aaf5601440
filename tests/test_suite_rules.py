"""The test suite's own rules, kept by tests: the fast tier starts no process (tests/
process_guard.py makes every attempt fail, even one the code under test catches), the end-to-end
tier (``slow``) may, and no test module imports another (shared code lives in helper modules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
# "from test_x import …" / "import test_x" at the start of a line (a string of child code too)
IMPORTS_A_TEST = re.compile(r"^[ \t\"']*(from|import)[ \t]+test_\w+", re.MULTILINE)

INNER = """
import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def server():
    return subprocess.Popen(["true"])


def test_runs_a_command():
    subprocess.run(["true"], check=True)


def test_swallows_the_error():
    try:
        os.system("true")
    except Exception:
        pass


def test_asks_for_a_server(server):
    pass


def test_starts_nothing():
    assert 1 + 1 == 2


@pytest.mark.slow
def test_end_to_end_runs_a_command():
    subprocess.run(["true"], check=True)
"""


def _inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(
        "[pytest]\nmarkers =\n    slow: end-to-end\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest_inprocess("-p", "process_guard", "-p", "no:cacheprovider", *args)


def test_a_fast_test_that_starts_a_process_fails_and_says_how_to_fix_it(pytester):
    result = _inner(pytester, "-m", "not slow")
    result.assert_outcomes(passed=1, failed=2, errors=1, deselected=1)
    text = result.stdout.str()
    assert "the fast tier starts no processes: mark this test slow" in text
    assert "While running it tried to start:\n  true" in text  # the swallowed os.system too
    passed, _, failed = result.reprec.listoutcomes()
    assert [r.nodeid.rsplit("::", 1)[1] for r in passed] == ["test_starts_nothing"]
    assert {r.nodeid.rsplit("::", 1)[1] for r in failed} == {
        "test_runs_a_command",
        "test_swallows_the_error",
        "test_asks_for_a_server",  # its session fixture, set up for it
    }


@pytest.mark.slow  # starts a process: only the end-to-end tier may
def test_an_end_to_end_test_may_start_processes(pytester):
    result = _inner(pytester, "-m", "slow")
    result.assert_outcomes(passed=1, deselected=4)


def test_no_test_module_imports_another():
    """Shared code goes into helper modules (tests/*.py not named test_*), so each test module
    can be read, run and changed on its own. Code a test runs in a child process counts too."""
    found = [
        f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group().strip()}"
        for path in sorted(TESTS.glob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for match in IMPORTS_A_TEST.finditer(text)
    ]
    assert found == []
