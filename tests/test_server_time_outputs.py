"""Server, model and path time in what users keep: JSON, CSV, the summary table, session files
(schema 2, older schema-1 files still open) and ``compare``."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import replace

import pytest
from session_results import make_result

from tfcompare.results import BackendTiming, ServerTime
from tfcompare.runner.aggregates import aggregate
from tfcompare.runner.compare import compare_results, format_comparison
from tfcompare.runner.run_formats import csv_text, from_json_obj, summary_table, to_json_obj
from tfcompare.session import load_session, save_session
from tfcompare.session.schema import APPLICATION_ID, DDL_V1, FORMAT_NAME


def with_server_time(result, server_scale: float = 1.0):
    """The sample run plus server times for its first backend's blocks (one of them shared)."""
    first = result.backends[0].name
    blocks = sorted({(r.image, r.variant) for r in result.measured if r.backend == first})
    times = tuple(
        ServerTime(
            image=img,
            variant=var,
            backend=first,
            sent=3,
            counted=3 + (i == 0),
            server_ms=4.0 * server_scale + i,
            runtime_ms=3.0 * server_scale,
            exact=i != 0,
            note="shared: the server counted 4 requests, 3 were sent" if i == 0 else "",
        )
        for i, (img, var) in enumerate(blocks)
    )
    timings = tuple(
        BackendTiming(
            b.name,
            floor_ms=0.4 if b.name == first else None,
            floor_samples=7 if b.name == first else 0,
            metrics="http://127.0.0.1:8501/monitoring/prometheus/metrics"
            if b.name == first
            else None,
            metrics_message="server metrics from …"
            if b.name == first
            else "no server metrics (refused)",
        )
        for b in result.backends
    )
    backends = (
        replace(result.backends[0], metrics="http://127.0.0.1:8501/monitoring/prometheus/metrics"),
        *result.backends[1:],
    )
    return replace(
        result,
        backends=backends,
        server_times=times,
        timings=timings,
        summary=aggregate(result.requests, times),
    )


def test_aggregates_carry_server_model_and_path_time():
    result = with_server_time(make_result())
    first = result.backends[0].name
    mine = [a for a in result.summary if a.backend == first]
    others = [a for a in result.summary if a.backend != first]
    assert mine and all(a.server_ms is not None and a.runtime_ms == 3.0 for a in mine)
    for a in mine:
        assert a.path_ms == pytest.approx(a.mean_ms - a.server_ms)
    assert sum(1 for a in mine if a.server_exact is False) == 1
    assert all(a.server_ms is None and a.server_exact is None for a in others)


def test_json_has_server_fields_and_floor_and_reads_back():
    result = with_server_time(make_result())
    obj = json.loads(json.dumps(to_json_obj(result)))
    first = obj["backends"][0]
    assert first["floor_ms"] == 0.4 and first["floor_samples"] == 7
    assert first["metrics_url"].endswith("/monitoring/prometheus/metrics")
    assert obj["backends"][1]["floor_ms"] is None
    assert "no server metrics" in obj["backends"][1]["metrics_message"]
    rows = [s for s in obj["summary"] if s["backend"] == first["name"]]
    assert all({"server_ms", "runtime_ms", "server_exact", "path_ms"} <= set(s) for s in rows)
    assert {s["server_exact"] for s in rows} == {True, False}
    assert len(obj["server_times"]) == len(result.server_times)
    back = from_json_obj(obj)
    assert back.server_times == result.server_times
    assert back.timings == result.timings
    assert back.summary == result.summary


def test_csv_rows_carry_their_blocks_server_time():
    result = with_server_time(make_result())
    rows = list(csv.DictReader(io.StringIO(csv_text(result))))
    first = result.backends[0].name
    mine = [r for r in rows if r["backend"] == first]
    assert mine and all(r["server_ms"] and r["runtime_ms"] == "3.0000" for r in mine)
    assert all(r["floor_ms"] == "0.4000" for r in mine)
    assert all(r["server_ms"] == "" and r["floor_ms"] == "" for r in rows if r["backend"] != first)


def test_summary_table_shows_split_and_floor():
    result = with_server_time(make_result())
    text = summary_table(result)
    header = text.splitlines()[0]
    assert "server ms" in header and "model ms" in header and "path ms" in header
    assert "~" in text  # the shared block makes the pooled figure approximate
    assert "path floor 0.4 ms (p50 of 7 model-status calls)" in text
    assert "no server metrics (refused)" in text


def test_session_round_trip_keeps_server_time(tmp_path):
    result = with_server_time(make_result())
    save_session(tmp_path / "s.tfcs", result)
    loaded = load_session(tmp_path / "s.tfcs").result
    assert loaded.server_times == result.server_times
    assert loaded.timings == result.timings
    assert loaded.summary == result.summary
    assert loaded.backends[0].metrics == result.backends[0].metrics


def test_schema_1_session_still_opens(tmp_path):
    """A session written before server time existed (schema 1 layout) opens with those fields
    empty."""
    path = tmp_path / "old.tfcs"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.execute("PRAGMA user_version=1")
    con.executescript(DDL_V1)
    meta = {
        "format": FORMAT_NAME,
        "schema": 1,
        "tfcompare": "0.1",
        "saved_at": 1.0,
        "title": "old",
        "selection": {},
        "settings": {},
        "started_at": 1.0,
        "finished_at": 2.0,
    }
    con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    con.execute(
        "INSERT INTO backends VALUES (0, ?)",
        (json.dumps({"name": "gpu", "target": "127.0.0.1:8500", "model": "m"}),),
    )
    con.execute(
        "INSERT INTO aggregates VALUES (0, 'a.jpg', 'original', 'gpu', 3, 0, 1000, 10.0, "
        "11.0, 12.0, 10.5, 0.5, 1, 'cat', 1, 1.0, 1.0)"
    )
    con.close()
    saved = load_session(path)
    assert saved.schema == 1
    (agg,) = saved.result.summary
    assert agg.p50_ms == 10.0
    assert (agg.server_ms, agg.runtime_ms, agg.server_exact, agg.path_ms) == (None,) * 4
    assert saved.result.server_times == () and saved.result.timings == ()
    assert saved.result.backends[0].metrics is None


def test_compare_shows_server_and_path_change():
    a = with_server_time(make_result(), server_scale=1.0)
    b = with_server_time(make_result(), server_scale=2.0)
    comparison = compare_results(a, b)
    first = a.backends[0].name
    row = next(r for r in comparison.rows if r.backend == first and r.variant == "512-jpeg")
    assert row.b.server_ms > row.a.server_ms
    assert row.b.path_ms < row.a.path_ms  # same latency, more of it on the server
    text = format_comparison(comparison)
    assert "server ms A → B" in text and "path ms A → B" in text


def _with_outlier(result, backend: str, variant: str, ms: float = 530.0):
    """One request of one block took ``ms`` (its block's mean and server time move, its p50
    does not)."""
    target = next(r for r in result.measured if (r.backend, r.variant) == (backend, variant))
    requests = tuple(replace(r, latency_ms=ms) if r is target else r for r in result.requests)
    times = tuple(
        replace(t, server_ms=t.server_ms + ms / 3, runtime_ms=t.runtime_ms + ms / 3)
        if (t.image, t.variant, t.backend) == (target.image, variant, backend)
        else t
        for t in result.server_times
    )
    return replace(
        result, requests=requests, server_times=times, summary=aggregate(requests, times)
    )


def test_compare_sets_server_and_path_time_beside_the_mean(tmp_path, capsys):
    """``tfcompare compare``: server ms (a mean from the server's counters) is printed beside the
    mean latency, and path ms is that mean minus it; the p50 stays apart."""
    from tfcompare.cli import main

    first = make_result().backends[0].name
    a = _with_outlier(with_server_time(make_result()), first, "512-jpeg")
    b = with_server_time(make_result(scale=1.1))
    save_session(tmp_path / "a.tfcs", a)
    save_session(tmp_path / "b.tfcs", b)
    assert main(["compare", str(tmp_path / "a.tfcs"), str(tmp_path / "b.tfcs")]) == 0
    out = capsys.readouterr().out
    assert "mean ms, server ms and path ms are means per request" in out
    header = next(line for line in out.splitlines() if line.startswith("backend"))
    columns = [c.strip() for c in header.split("  ") if c.strip()]
    assert columns.index("mean ms A → B") + 1 == columns.index("server ms A → B")
    row = next(line for line in out.splitlines() if line.startswith(first) and "512-jpeg" in line)
    cells = [c.strip() for c in row.split("  ") if c.strip()]
    mean_a = float(cells[6].split(" → ")[0])
    server_a = float(cells[7].split(" → ")[0].lstrip("~"))
    path_a = float(cells[8].split(" → ")[0].lstrip("~"))
    assert path_a == pytest.approx(mean_a - server_a, abs=0.011)
    p50_a = float(cells[2])
    assert mean_a > 3 * p50_a  # the outlier moved the mean (and the server time), not the p50
    main(["compare", str(tmp_path / "a.tfcs"), str(tmp_path / "b.tfcs"), "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    got = next(r for r in rows if (r["backend"], r["variant"]) == (first, "512-jpeg"))["a"]
    assert got["path_ms"] == pytest.approx(got["mean_ms"] - got["server_ms"])


def test_run_summary_sets_server_time_beside_the_mean():
    result = with_server_time(make_result())
    text = summary_table(result)
    header = text.splitlines()[0].split()
    joined = " ".join(header)
    assert "p99 ms mean ms server ms model ms path ms" in joined
    assert "compare server ms with mean ms, not with p50" in text


def test_exported_csv_spells_booleans_one_way_and_carries_the_block_mean(tmp_path, capsys):
    """``tfcompare export --csv``: ``true``/``false`` in every boolean column of every row (never
    ``True`` beside ``false``), and each row's block mean latency beside the block's server time."""
    from tfcompare.cli import main

    result = with_server_time(make_result())
    save_session(tmp_path / "s.tfcs", result)
    assert main(["export", str(tmp_path / "s.tfcs"), "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows
    for row in rows:
        for key in ("ok", "spans_restart"):
            assert row[key] in ("true", "false"), (key, row[key])
        assert row["server_exact"] in ("true", "false", "")
    assert {r["ok"] for r in rows} == {"true", "false"}
    header = list(rows[0])
    assert header.index("block_mean_ms") + 1 == header.index("server_ms")
    means = {(a.image, a.variant, a.backend): a.mean_ms for a in result.summary}
    for row in rows:
        mean = means[(row["image"], row["variant"], row["backend"])]
        assert row["block_mean_ms"] == ("" if mean is None else f"{mean:.4f}")


def with_queue_time(result, queue_ms: float):
    """The sample run with server times whose blocks also carry a queue time (Triton's)."""
    result = with_server_time(result)
    times = tuple(replace(t, queue_ms=queue_ms + i) for i, t in enumerate(result.server_times))
    return replace(result, server_times=times, summary=aggregate(result.requests, times))


def test_queue_time_reaches_the_exports_the_summary_and_compare():
    result = with_queue_time(make_result(), 0.5)
    first = result.backends[0].name
    blocks = {(t.image, t.variant): t.queue_ms for t in result.server_times}
    # JSON: per block and per aggregate, and back
    data = json.loads(json.dumps(to_json_obj(result)))
    assert {t["queue_ms"] for t in data["server_times"]} == set(blocks.values())
    assert all(
        a["queue_ms"] == blocks[(a["image"], a["variant"])]
        for a in data["summary"]
        if a["backend"] == first and a["server_ms"] is not None
    )
    assert from_json_obj(data).server_times == result.server_times
    # CSV: each request carries its block's queue time
    rows = list(csv.DictReader(io.StringIO(csv_text(result))))
    mine = [r for r in rows if r["backend"] == first]
    assert all(float(r["queue_ms"]) == blocks[(r["image"], r["variant"])] for r in mine)
    # the summary table gets a queue column, pooled over the images by requests
    text = summary_table(result)
    header = text.splitlines()[0]
    assert "server ms" in header and "queue ms" in header and "model ms" in header
    assert "queue ms: mean time requests waited" in text
    # compare: the queue column appears when either run has it
    comparison = compare_results(with_server_time(make_result()), result)
    row = next(r for r in comparison.rows if r.backend == first and r.variant == "512-jpeg")
    assert row.a.queue_ms is None and row.b.queue_ms is not None
    assert row.to_dict()["b"]["queue_ms"] == row.b.queue_ms
    assert "queue ms A → B" in format_comparison(comparison)


def test_no_queue_column_without_a_queue_time():
    result = with_server_time(make_result())
    assert "queue ms" not in summary_table(result).splitlines()[0]
    assert "queue ms" not in format_comparison(compare_results(result, result))
