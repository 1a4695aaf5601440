"""Bench (window start): seconds from a fresh interpreter to the main window shown, against a
baseline measured in the same run (an empty ``QMainWindow`` shown the same way: what PySide6 and
the platform plugin cost by themselves). Medians over a few runs; also says whether TensorFlow was
loaded (it must never be: tests/test_gui_window.py asserts that part).

    QT_QPA_PLATFORM=offscreen python bench/bench_gui_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_PROBE = """
import json, sys, time
t = time.perf_counter()
{build}
app.processEvents()
print(json.dumps({{"s": time.perf_counter() - t, "tf": "tensorflow" in sys.modules}}))
"""
CASES = {
    "empty QMainWindow": (
        "from PySide6.QtWidgets import QApplication, QMainWindow\n"
        "app = QApplication([]); w = QMainWindow(); w.resize(1280, 800); w.show()"
    ),
    "tfcompare window": (
        "from tfcompare.gui.app import build_window, ensure_app\n"
        "app = ensure_app(); w = build_window(); w.show()"
    ),
}


def measure(build: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(build=build)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    medians = {}
    for name, build in CASES.items():
        runs = [measure(build) for _ in range(args.runs)]
        medians[name] = statistics.median(r["s"] for r in runs)
        tf = any(r["tf"] for r in runs)
        print(f"{name:20s} {medians[name]:6.2f} s (median of {args.runs}), TensorFlow loaded: {tf}")
    base, window = medians["empty QMainWindow"], medians["tfcompare window"]
    print(f"window start = {window / base:.1f}× an empty window ({window - base:+.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
