"""Server time against real local backends: ``tfcompare serve`` exports TF Serving's metrics on its
REST port, ``tfcompare run`` finds and reads them, and the figures match the server's own log of
its request times (``--log-request-times``)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from contextlib import closing

import pytest
from images import photo, save
from kube_api_server import add_tfs_service
from prometheus_client.parser import text_string_to_metric_families

from tfcompare.runner import Runner
from tfcompare.runner.events import RequestDone
from tfcompare.serving import make_client
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import (
    LATENCY_BUCKETS_US,
    METRICS_PATH,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    RUNTIME_LATENCY,
)
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow
SETTINGS = RunSettings(sizes=(128,), formats=("jpeg",), warmup=1, repeats=3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    save(photo("chelsea"), folder / "cat.jpg")
    save(photo("coffee"), folder / "coffee.jpg")
    return folder


def free_port_pair() -> int:
    """P such that P and P+1 are both free (TF Serving's 8500/8501 layout on free ports)."""
    for _ in range(100):
        with closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with closing(socket.socket()) as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def families(rest: str) -> dict:
    with urllib.request.urlopen(f"http://{rest}{METRICS_PATH}", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_exposition_has_tf_servings_names_labels_and_buckets(backend_pair, tmp_path):
    two = backend_pair.two
    image = save(photo("chelsea"), tmp_path / "cat.jpg").read_bytes()
    for protocol, target in (("grpc", two.grpc), ("rest", two.rest)):
        spec = BackendSpec("x", target, protocol=protocol, model="tiny")  # type: ignore[arg-type]
        with make_client(spec) as client:
            client.predict_image(image, client.metadata())
    wrong = BackendSpec("x", two.grpc, model="tiny", signature=None)
    with make_client(wrong) as client:
        sig = client.metadata()
        with pytest.raises(Exception):  # noqa: B017 - any refusal; its status is what is checked
            client.predict_image(b"not an image", sig)
    fams = families(two.rest)
    latency = fams[REQUEST_LATENCY]
    assert latency.type == "histogram"
    series = {
        (s.labels["model_name"], s.labels["API"], s.labels["entrypoint"])
        for s in latency.samples
        if s.name.endswith("_count")
    }
    assert {("tiny", "Predict", "GRPC"), ("tiny", "predict", "REST")} <= series
    grpc_buckets = [
        s.labels["le"]
        for s in latency.samples
        if s.name.endswith("_bucket") and s.labels["entrypoint"] == "GRPC"
    ]
    assert grpc_buckets[-1] == "+Inf"
    assert [float(b) for b in grpc_buckets[:-1]] == list(LATENCY_BUCKETS_US)
    runtime = fams[RUNTIME_LATENCY]
    assert {tuple(sorted(s.labels)) for s in runtime.samples if s.name.endswith("_sum")} == {
        ("API", "model_name", "runtime")
    }
    statuses = {
        (s.labels["model_name"], s.labels["status"])
        for s in fams[REQUEST_COUNT].samples
        if not s.name.endswith("_created")
    }
    assert ("tiny", "OK") in statuses and ("tiny", "INVALID_ARGUMENT") in statuses
    assert not any(s.name.endswith("_created") for f in fams.values() for s in f.samples)


def test_run_prints_server_time_without_flags_and_matches_the_servers_log(
    fresh_backend, photos, tmp_path
):
    port = free_port_pair()
    log = tmp_path / "requests.jsonl"
    backend = fresh_backend(
        rest=True,
        extra_args=[
            "--port",
            str(port),
            "--rest-port",
            str(port + 1),
            "--log-request-times",
            str(log),
        ],
    )
    assert backend.grpc.endswith(f":{port}")
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(photos),
            "--backend",
            f"a={backend.grpc}/tiny",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert "server ms" in header and "path ms" in header
    assert f"server metrics from http://127.0.0.1:{port + 1}{METRICS_PATH}" in proc.stderr
    data = json.loads(out.read_text())
    assert data["backends"][0]["floor_ms"] > 0
    assert data["summary"] and all(s["server_exact"] for s in data["summary"])
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert data["server_times"]
    for block in data["server_times"]:
        reqs = [
            r
            for r in data["requests"]
            if (r["image"], r["variant"]) == (block["image"], block["variant"])
        ]
        own = []
        for r in reqs:  # requests go one at a time: the first line the server logs after it
            line = min((x for x in logged if x["t"] >= r["started_at"]), key=lambda x: x["t"])
            own.append(line["request_us"])
        assert block["server_ms"] == pytest.approx(sum(own) / len(own) / 1000, rel=0.10)


def test_other_traffic_during_a_block_is_marked_shared(backend_pair, photos):
    two = backend_pair.two
    spec = BackendSpec("two", two.grpc, model="tiny", metrics=f"http://{two.rest}{METRICS_PATH}")
    intruder = make_client(BackendSpec("other", two.grpc, model="tiny"))
    signature = intruder.metadata()
    image = (photos / "cat.jpg").read_bytes()

    def on_event(event):
        # another client's request lands inside the "original" blocks only
        if (
            isinstance(event, RequestDone)
            and event.result.phase == "measured"
            and event.result.repeat == 0
            and event.result.variant == "original"
        ):
            intruder.predict_image(image, signature)

    try:
        result = Runner([spec], SETTINGS).run([photos / "cat.jpg"], on_event=on_event)
    finally:
        intruder.close()
    by_variant = {t.variant: t for t in result.server_times}
    shared, alone = by_variant["original"], by_variant["128-jpeg"]
    assert not shared.exact and shared.counted == 4 and shared.sent == 3 and "shared" in shared.note
    assert alone.exact and alone.counted == 3
    agg = {a.variant: a for a in result.summary}
    assert agg["original"].server_exact is False and agg["128-jpeg"].server_exact is True


def test_backend_without_metrics_works_and_says_so_once(backend_pair, photos, tmp_path):
    one = backend_pair.one  # gRPC only: nothing answers on the port beside it
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(photos),
            "--backend",
            f"one={one.grpc}/tiny",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--json",
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("no server metrics") == 1, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("original", "128-jpeg"))]
    assert len(rows) == 2 and all(" - " in row for row in rows)


def test_metrics_off_makes_no_scrape(backend_pair, photos):
    two = backend_pair.two
    before = families(two.rest)[REQUEST_LATENCY]
    spec = BackendSpec("two", two.grpc, model="tiny", metrics="off")
    result = Runner([spec], SETTINGS).run([photos / "cat.jpg"])
    assert result.server_times == ()
    assert (
        result.timings[0].metrics is None
        and result.timings[0].metrics_message == "server metrics off"
    )
    assert result.timings[0].floor_ms is not None
    assert before  # the page was there: "off" is the user's choice, not a failure


def test_k8s_backend_scrapes_through_the_forward(kube, backend_pair, photos):
    two = backend_pair.two
    pod = add_tfs_service(kube, "tfs-cpu-2", grpc=two.grpc, rest=two.rest)
    spec = BackendSpec("k8s", "k8s://tfs/tfs-cpu-2", model="tiny", timeout_s=20.0)
    result = Runner([spec], SETTINGS).run([photos / "cat.jpg"])
    timing = result.timings[0]
    assert timing.metrics is not None and timing.metrics.startswith("http://127.0.0.1:")
    assert timing.metrics.endswith(METRICS_PATH) and two.rest not in timing.metrics
    assert any("/portforward?ports=8501" in r for r in kube.requests), kube.requests
    assert result.server_times and all(t.exact for t in result.server_times), result.server_times
    assert all(r.pod == pod for r in result.measured)
    assert timing.floor_ms is not None


def test_metrics_url_given_on_the_command_line(backend_pair, photos, tmp_path):
    two = backend_pair.two  # gRPC on one port, REST (and metrics) on another, not the next one
    out = tmp_path / "out.json"
    url = f"http://{two.rest}{METRICS_PATH}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(photos / "cat.jpg"),
            "--backend",
            f"two={two.grpc}/tiny",
            "--metrics",
            url,
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["backends"][0]["metrics_url"] == url and data["backends"][0]["metrics"] == url
    assert all(
        s["server_exact"] and s["server_ms"] > 0 and s["runtime_ms"] > 0 for s in data["summary"]
    )
    assert all(
        s["path_ms"] == pytest.approx(s["mean_ms"] - s["server_ms"]) for s in data["summary"]
    )


def test_counters_are_written_under_tf_servings_own_names(backend_pair, tmp_path):
    """TF Serving writes ``:tensorflow:serving:request_count{…} N`` (no ``_total``), so queries
    and dashboards made for it read the local backend unchanged, the name[] filter included."""
    rest = backend_pair.two.rest
    with make_client(BackendSpec("x", backend_pair.two.grpc, model="tiny")) as client:
        client.predict_image(
            save(photo("chelsea"), tmp_path / "cat.jpg").read_bytes(), client.metadata()
        )
    with urllib.request.urlopen(f"http://{rest}{METRICS_PATH}", timeout=10) as resp:
        text = resp.read().decode()
    assert f"# TYPE {REQUEST_COUNT} counter\n" in text
    assert "# TYPE :tensorflow:core:graph_runs counter\n" in text
    assert "_total" not in text
    samples = [line for line in text.splitlines() if line.startswith(REQUEST_COUNT + "{")]
    assert samples and all('status="' in line for line in samples)
    query = urllib.parse.urlencode({"name[]": REQUEST_COUNT})
    with urllib.request.urlopen(f"http://{rest}{METRICS_PATH}?{query}", timeout=10) as resp:
        only = resp.read().decode()
    assert only.splitlines()[1] == f"# TYPE {REQUEST_COUNT} counter"
    assert {line.split("{")[0] for line in only.splitlines() if not line.startswith("#")} == {
        REQUEST_COUNT
    }


def test_made_up_model_names_cannot_grow_the_metrics_without_bound(fresh_backend, tmp_path):
    """Each request's model name becomes a label (as in TF Serving); a client sending endless
    made-up names is counted, but past MAX_MODEL_NAMES names under one "(other)" series."""
    from tfcompare.localserve.metrics import MAX_MODEL_NAMES, OTHER_MODEL
    from tfcompare.serving.answers import ServingError

    backend = fresh_backend(rest=True)
    image = save(photo("chelsea"), tmp_path / "cat.jpg").read_bytes()
    with make_client(BackendSpec("x", backend.grpc, model="tiny")) as client:
        sig = client.metadata()
        client.predict_image(image, sig)
    sent = MAX_MODEL_NAMES + 20
    for i in range(sent):
        with make_client(BackendSpec("x", backend.grpc, model=f"made-up-{i}")) as client:
            with pytest.raises(ServingError, match="NOT_FOUND|not found|Could not find"):
                client.predict_image(image, sig)
    counts = {
        s.labels["model_name"]: s.value
        for s in families(backend.rest)[REQUEST_COUNT].samples
        if s.labels["status"] == "NOT_FOUND"
    }
    assert len(counts) == MAX_MODEL_NAMES  # "tiny" took one of the names; the rest: other
    assert counts[OTHER_MODEL] == sent - (MAX_MODEL_NAMES - 1)
    assert sum(counts.values()) == sent  # every refusal still counted
