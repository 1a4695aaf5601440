"""The JSON/CSV shapes and the terminal summary, on hand-built results."""

from __future__ import annotations

import csv
import io
import json

from hand_requests import CAT, req

from tfcompare.imaging.values import ImageProblem
from tfcompare.results import RunResult
from tfcompare.runner import aggregate
from tfcompare.runner.run_formats import csv_text, from_json_obj, summary_table, to_json_obj
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


def result_with(n_repeats: int) -> RunResult:
    reqs = [req("original", 10.0 + i, CAT, repeat=i) for i in range(n_repeats)]
    reqs += [req("128-jpeg", 5.0 + i, CAT[1:], repeat=i) for i in range(n_repeats)]
    reqs.append(req("128-jpeg", None, [], ok=False, repeat=n_repeats))
    reqs.append(req("original", 250.0, CAT, phase="cold"))
    return RunResult(
        settings=RunSettings(repeats=n_repeats),
        backends=(BackendSpec("b", "h:1"),),
        images=(),
        requests=tuple(reqs),
        problems=(ImageProblem("broken.jpg", "not an image"),),
        summary=aggregate(reqs),
    )


def test_summary_marks_few_samples_and_lists_problems():
    few = summary_table(result_with(3))
    assert "10.0*" not in few and "11.0*" in few  # p50 of 10, 11, 12 is 11, starred
    assert "fewer than 10 samples" in few
    assert "cold first request to b: 250.0 ms" in few
    assert "b: 1 request(s) failed" in few
    assert "image broken.jpg: not an image" in few
    many = summary_table(result_with(12))
    assert "*" not in many.split("\n\n")[0] and "fewer than 10 samples" not in many


def test_quality_columns_in_summary():
    table = summary_table(result_with(3)).splitlines()
    row = next(line for line in table if line.startswith("128-jpeg"))
    assert row.split()[-3:] == ["0%", "80%", "-"]  # top-1 changed, 4 of 5 shared, class gone


def test_json_round_trip_and_csv_rows():
    result = result_with(3)
    obj = json.loads(json.dumps(to_json_obj(result)))
    assert len(obj["requests"]) == 7 and len(obj["cold"]) == 1
    assert obj["errors"] == [{"image": "broken.jpg", "message": "not an image"}]
    back = from_json_obj(obj)
    assert sorted(back.requests, key=repr) == sorted(result.requests, key=repr)
    assert back.summary == result.summary
    rows = list(csv.DictReader(io.StringIO(csv_text(result))))
    assert len(rows) == 7 and rows[0]["top1"] == "tabby" and rows[-1]["ok"] == "false"
