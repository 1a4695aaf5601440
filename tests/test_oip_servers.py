"""tfcompare against Open Inference Protocol servers nobody here wrote: Seldon's MLServer and
KServe's Python model server, each from its own test environment (``scripts/setup.sh``),
serving the tests' classifier (``tests/oip_models/``) — the same network ``tfcompare serve``
runs as a Keras SavedModel, so TF Serving and MLServer must agree on every top-5.

Covered: OIP gRPC and REST (JSON, and Triton's binary tensors where KServe reads them), KServe
v1 with ``input=``; tensor and encoded-bytes inputs; ``tfcompare run`` of TF Serving beside
MLServer (one table, both server times), ``report`` and ``compare`` of such sessions,
``tfcompare load`` sweeps, and the window. TensorFlow runs only in subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from backends import start_backend
from images import jpeg_bytes, photo
from oip_servers import (
    BYTES_MODEL,
    PLAIN_MODEL,
    TENSOR_MODEL,
    build_classifier,
    classifier,
    start_kserve,
    start_mlserver,
)

from tfcompare.serving import make_client
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.labels import imagenet

pytestmark = pytest.mark.slow

PHOTOS = ("chelsea", "coffee")
TF_METRICS = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_classifier(tmp_path_factory.mktemp("classifier") / "built")


@pytest.fixture(scope="module")
def mlserver(built, tmp_path_factory):
    server = start_mlserver(built / "classifier.npz", log_dir=tmp_path_factory.mktemp("mls-log"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kserve(built, tmp_path_factory):
    server = start_kserve(built / "classifier.npz", log_dir=tmp_path_factory.mktemp("ks-log"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tfs(built, tmp_path_factory):
    """``tfcompare serve`` of the Keras twin, model name ``classifier``, REST (and metrics) on."""
    backend = start_backend(
        built / "tfs",
        model_name=TENSOR_MODEL,
        rest=True,
        log_dir=tmp_path_factory.mktemp("tfs-log"),
    )
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        (folder / f"{name}.jpg").write_bytes(jpeg_bytes(photo(name)))
    return folder


def expected_top5(encoded: bytes) -> list[tuple[str, float]]:
    """The network's own answer, computed here in NumPy (the ``tf`` preset's preparation)."""
    probs = classifier.forward(classifier.make_weights(), classifier.preprocess(encoded))[0]
    best = probs.argsort()[::-1][:5]
    names = imagenet()
    return [(names.label(int(i), 1000), float(probs[i])) for i in best]


def check(spec_text: str, encoded: bytes):
    spec = BackendSpec.parse(spec_text + ",preprocess=tf", timeout_s=30)
    with make_client(spec) as client:
        status = client.status()
        assert status.available, status.message
        sig = client.metadata()
        out = client.predict_image(encoded, sig)
        got = [(p.label, p.score) for p in out.top5]
        want = expected_top5(encoded)
        assert [g[0] for g in got] == [w[0] for w in want], spec_text
        assert [g[1] for g in got] == pytest.approx([w[1] for w in want], abs=2e-5)
        assert out.score_kind == "probability" and out.latency_ms > 0
        return client, sig, out


# --------------------------------------------------------------------------- clients


@pytest.mark.parametrize("name", PHOTOS)
def test_mlserver_over_grpc_and_rest_answers_as_the_network(mlserver, name):
    encoded = jpeg_bytes(photo(name))
    for scheme, address in (("v2", mlserver.grpc), ("v2+http", mlserver.http)):
        client, sig, out = check(f"t={scheme}://{address}/{TENSOR_MODEL}", encoded)
        assert sig.input_text == "takes float32 32×32×3 NHWC" and sig.input_dtype == "FP32"
        assert sig.num_classes == 1000 and out.model_version == 1
        client, sig, out = check(f"b={scheme}://{address}/{BYTES_MODEL}", encoded)
        assert sig.input_text == "takes encoded bytes" and sig.input_key == "image_bytes"
        assert out.bytes_sent >= len(encoded)
        if scheme == "v2+http":  # MLServer reads JSON only: base64 for the bytes
            assert client.binary == (False, False) and client.server[0] == "mlserver"


def test_mlserver_errors_are_clear(mlserver):
    for scheme, address in (("v2", mlserver.grpc), ("v2+http", mlserver.http)):
        spec = BackendSpec.parse(f"x={scheme}://{address}/no-such-model")
        with make_client(spec) as client, pytest.raises(ServingError) as err:
            client.status()
        assert err.value.code == "NOT_FOUND" and "no-such-model" in err.value.message
        spec = BackendSpec.parse(f"x={scheme}://{address}/{TENSOR_MODEL}:9")
        with make_client(spec) as client, pytest.raises(ServingError) as err:
            client.metadata()
        assert err.value.code == "NOT_FOUND", scheme


@pytest.mark.parametrize("name", PHOTOS)
def test_kserve_v1_v2_rest_and_v2_grpc(kserve, name):
    encoded = jpeg_bytes(photo(name))
    grpc_, http = kserve.grpc, kserve.http
    check(f"a=v2://{grpc_}/{TENSOR_MODEL}", encoded)
    check(f"b=v2://{grpc_}/{BYTES_MODEL}", encoded)
    client, _, _ = check(f"c=v2+http://{http}/{TENSOR_MODEL}", encoded)
    assert client.binary == (True, False) and client.server[0] == "kserve"  # binary tensors
    check(f"d=v2+http://{http}/{BYTES_MODEL}", encoded)  # bytes: JSON base64
    _, sig, _ = check(f"e=v2+http://{http}/{PLAIN_MODEL},input=float32:32x32x3", encoded)
    assert sig.output_keys == ()  # KServe's default metadata lists nothing
    check(f"f=kserve+http://{http}/{TENSOR_MODEL},input=float32:32x32x3", encoded)
    check(f"g=kserve+http://{http}/{BYTES_MODEL},input=bytes", encoded)
    check(f"h=kserve+http://{http}/{PLAIN_MODEL},input=image:float32:32x32x3", encoded)


def test_kserve_says_what_is_missing(kserve):
    for text in (
        f"x=kserve+http://{kserve.http}/{TENSOR_MODEL}",
        f"x=v2+http://{kserve.http}/{PLAIN_MODEL}",
        f"x=v2://{kserve.grpc}/{PLAIN_MODEL}",
    ):
        with make_client(BackendSpec.parse(text)) as client, pytest.raises(ServingError) as err:
            client.metadata()
        assert err.value.code == "INVALID_ARGUMENT" and "input=bytes" in err.value.message
    for text in (
        f"x=kserve+http://{kserve.http}/nope",
        f"x=v2+http://{kserve.http}/nope",
        f"x=v2://{kserve.grpc}/nope",
    ):
        with make_client(BackendSpec.parse(text)) as client, pytest.raises(ServingError) as err:
            client.status()
        assert err.value.code == "NOT_FOUND" and "nope" in err.value.message, text


# --------------------------------------------------------------------------- CLI


def tfcompare(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "tfcompare", *args], capture_output=True, text=True, timeout=timeout
    )
    return proc


def test_run_compares_tf_serving_and_mlserver_on_one_table(tfs, mlserver, photos, tmp_path):
    """The issue's "done": TF Serving and MLServer serving the same classifier, one table and
    one set of charts, the same top-5 on every image, the server's own time for both."""
    out, session = tmp_path / "run.json", tmp_path / "pair.tfcs"
    proc = tfcompare(
        "run",
        str(photos),
        "-b",
        f"tfs={tfs.grpc}/{TENSOR_MODEL},metrics=http://{tfs.rest}{TF_METRICS}",
        "-b",
        f"mls=v2://{mlserver.grpc}/{TENSOR_MODEL},metrics={mlserver.metrics}",
        "--preprocess",
        "tf",
        "--sizes",
        "256",
        "--formats",
        "jpeg",
        "--repeats",
        "3",
        "--one-at-a-time",
        "--json",
        str(out),
        "--save",
        str(session),
    )
    assert proc.returncode == 0, proc.stderr
    # MLServer's metadata lists no versions unless its settings do: the line names none
    assert "backend mls: AVAILABLE · takes float32 32×32×3 NHWC (input 'image')" in proc.stderr
    assert f"server metrics from {mlserver.metrics} (MLServer)" in proc.stderr
    assert f"server metrics from http://{tfs.rest}{TF_METRICS} (TF Serving)" in proc.stderr
    table = [line.split() for line in proc.stdout.splitlines()]
    for variant in ("original", "256-jpeg"):
        for backend in ("tfs", "mls"):
            assert any(row[:2] == [variant, backend] for row in table), (variant, backend)
    doc = json.loads(out.read_text())
    assert {b["protocol"] for b in doc["backends"]} == {"grpc", "v2"}
    answers: dict[tuple[str, str, str], list] = {}
    for r in doc["requests"]:
        assert r["ok"], r["error"]
        answers.setdefault((r["image"], r["variant"], r["backend"]), r["top5"])
    for image in (f"{n}.jpg" for n in PHOTOS):
        for variant in ("original", "256-jpeg"):
            tf_top5 = answers[(image, variant, "tfs")]
            ml_top5 = answers[(image, variant, "mls")]
            assert [label for label, _ in tf_top5] == [label for label, _ in ml_top5]
            assert [s for _, s in tf_top5] == pytest.approx([s for _, s in ml_top5], abs=1e-4)
        original = (photos / image).read_bytes()
        assert [label for label, _ in answers[(image, "original", "mls")]] == [
            label for label, _ in expected_top5(original)
        ]
    for row in doc["summary"]:  # the server's own time for both, exact (one at a time)
        assert row["server_ms"] is not None and row["server_ms"] > 0, row
        assert row["server_exact"], row
        if row["backend"] == "mls":
            assert row["runtime_ms"] is None  # MLServer publishes no model-run time apart
    report = tmp_path / "report.html"
    proc = tfcompare("report", str(session), "--out", str(report))
    assert proc.returncode == 0, proc.stderr
    html = report.read_text()
    assert "tfs" in html and "mls" in html
    assert mlserver.grpc in html and ">v2<" in html  # the setup table: target and protocol


def test_compare_a_tf_serving_session_with_an_mlserver_one(tfs, mlserver, photos, tmp_path):
    """Moving a model from TF Serving to MLServer: the same backend name in two sessions,
    compared; the answers did not change."""
    sessions = []
    for label, spec in (
        ("before", f"prod={tfs.grpc}/{TENSOR_MODEL}"),
        ("after", f"prod=v2+http://{mlserver.http}/{TENSOR_MODEL}"),
    ):
        path = tmp_path / f"{label}.tfcs"
        proc = tfcompare(
            "run",
            str(photos / "chelsea.jpg"),
            "-b",
            spec + ",metrics=off",
            "--preprocess",
            "tf",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--repeats",
            "3",
            "--save",
            str(path),
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr
        sessions.append(path)
    out = tmp_path / "compare.json"
    proc = tfcompare(
        "compare", *map(str, sessions), "--json", str(out), "--fail-on", "agreement:-1pp"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "prod" in proc.stdout
    doc = json.loads(out.read_text())
    text = json.dumps(doc)
    assert '"prod"' in text and "128-jpeg" in text


def test_load_sweeps_oip_backends(mlserver, kserve, photos, tmp_path):
    out = tmp_path / "load.json"
    proc = tfcompare(
        "load",
        str(photos / "chelsea.jpg"),
        "-b",
        f"mls=v2://{mlserver.grpc}/{TENSOR_MODEL},metrics={mlserver.metrics}",
        "-b",
        f"mlsb=v2+http://{mlserver.http}/{BYTES_MODEL}",
        "-b",
        f"ksb=v2+http://{kserve.http}/{TENSOR_MODEL}",
        "-b",
        f"ks1=kserve+http://{kserve.http}/{TENSOR_MODEL},input=float32:32x32x3",
        "--preprocess",
        "tf",
        "--variants",
        "original",
        "--concurrency",
        "1,2",
        "--window-s",
        "0.3",
        "--max-windows",
        "3",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    levels = doc["levels"]
    assert {lv["backend"] for lv in levels} == {"mls", "mlsb", "ksb", "ks1"}
    for lv in levels:
        assert lv["ok"] > 0 and lv["n_errors"] == 0, lv
        if lv["backend"] == "mls":
            assert lv["server_ms"] is not None and 0 < lv["server_ms"] <= lv["max_ms"]


def test_kserve_metrics_are_found_on_its_http_port(kserve, photos, tmp_path):
    out = tmp_path / "run.json"
    proc = tfcompare(
        "run",
        str(photos / "coffee.jpg"),
        "-b",
        f"ks=v2+http://{kserve.http}/{TENSOR_MODEL}",
        "--preprocess",
        "tf",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--repeats",
        "2",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"server metrics from http://{kserve.http}/metrics (KServe)" in proc.stderr
    doc = json.loads(out.read_text())
    for row in doc["summary"]:
        assert row["server_ms"] is not None and row["runtime_ms"] is not None
        assert 0 < row["runtime_ms"] <= row["server_ms"]


# --------------------------------------------------------------------------- the window


def test_the_window_compares_tf_serving_and_mlserver(qtbot, tfs, mlserver, tmp_path):
    from gui_helpers import make_window, small_photos

    from tfcompare.settings import RunSettings

    window = make_window(qtbot)
    specs = [
        BackendSpec.parse(f"tfs={tfs.grpc}/{TENSOR_MODEL},preprocess=tf,metrics=off"),
        BackendSpec.parse(
            f"mls=v2://{mlserver.grpc}/{TENSOR_MODEL},preprocess=tf,metrics={mlserver.metrics}"
        ),
    ]
    window.set_backends(specs, persist=False)
    window.settings_panel.set_settings(
        RunSettings(sizes=(128,), formats=("jpeg",), warmup=1, repeats=2)
    )
    window.controller.add_paths(small_photos(tmp_path / "img", names=("chelsea",)))
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    qtbot.waitUntil(lambda: window.backends_panel.state_of("mls") == "ok", timeout=30_000)
    assert "takes float32 32×32×3 NHWC" in window.backends_panel.entry_text("mls")
    with qtbot.waitSignal(window.run_finished, timeout=120_000) as blocker:
        assert window.start_run()
    assert blocker.args[0] is False
    result = window.store.result
    assert result.requests and all(r.ok for r in result.requests)
    assert {a.backend for a in result.summary} == {"tfs", "mls"}
    assert window.table.model.rowCount() == len(result.summary) == 4
    shown = window.top5.shown
    assert set(shown) == {"tfs", "mls"}
    assert [p.label for p in shown["tfs"]] == [p.label for p in shown["mls"]]
    mls_rows = [a for a in result.summary if a.backend == "mls"]
    assert all(a.server_ms is not None for a in mls_rows)
