"""Any image classifier: tfcompare's client against real ``keras.Model.export()`` classifiers that
take a decoded tensor (tests/tensor_models.py), served by ``tfcompare serve`` — through the
client, ``tfcompare run`` over gRPC and REST, ``tfcompare load`` and the window, and checked
against the official TF Serving stubs sending the very same tensor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from images import photo, save

from tfcompare.imaging.preprocess import Preprocessing
from tfcompare.serving import make_client
from tfcompare.serving._protos import predict_pb2, prediction_service_pb2_grpc
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.labels import imagenet_labels

pytestmark = pytest.mark.slow

KINDS = (
    "nhwc-float32",
    "nchw-float32",
    "uint8",
    "float16",
    "dynamic",
    "ids-1001",
    "grey",
    "classes-10",
    "feature-map",
    "two-images",
)


@pytest.fixture(scope="module")
def served(tensor_model_base, tmp_path_factory):
    """Every kind served at once (model name = kind), REST on: ``served[kind].grpc / .rest``."""
    from tensor_models import start_kinds

    served = start_kinds(KINDS, tensor_model_base, tmp_path_factory.mktemp("tensor-backend-logs"))
    yield served
    for backend in served.values():
        backend.stop()


@pytest.fixture(scope="module")
def cat(tmp_path_factory) -> Path:
    return save(photo("chelsea"), tmp_path_factory.mktemp("tensor-photos") / "cat.jpg")


def _tfcompare(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _stub_answer(address: str, model: str, key: str, array: np.ndarray) -> dict[str, np.ndarray]:
    """What the official stubs get for ``array`` (packed ``tensor_content``)."""
    from tensor_models import answer_array, predict_request

    request = predict_request(model, {key: array})
    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=60)
    assert isinstance(response, predict_pb2.PredictResponse)
    return {k: answer_array(v) for k, v in response.outputs.items()}


@pytest.mark.parametrize(
    ("kind", "preset"),
    [
        ("nhwc-float32", "tf"),
        ("nchw-float32", "torch"),
        ("uint8", "raw"),
        ("float16", "tf"),
        ("dynamic", "unit"),
        ("grey", "unit"),
    ],
)
def test_tfcompare_sends_the_tensor_the_official_stubs_send(served, cat, kind, preset):
    """The client's request for a tensor model is the model's input as the official stubs would
    send it: the same tensor gets the same top-5 from both, over gRPC (and REST where TF Serving
    can read the dtype from JSON)."""
    backend = served[kind]
    encoded = cat.read_bytes()
    spec = BackendSpec(kind, backend.grpc, model=kind, preprocess=preset)
    with make_client(spec) as client:
        sig = client.metadata()
        assert sig.input is not None and sig.input.needs_preprocessing
        value = sig.input.make(encoded, Preprocessing(preset))
        ours = client.predict(value, sig)
    answer = _stub_answer(backend.grpc, kind, value.key, value.array)
    [scores] = [a for a in answer.values() if a.dtype.kind == "f"]
    order = np.argsort(-scores.reshape(-1), kind="stable")[:5]
    assert [p.label for p in ours.top5] == [imagenet_labels()[i] for i in order]
    np.testing.assert_allclose([p.score for p in ours.top5], scores.reshape(-1)[order], rtol=1e-6)
    assert ours.preprocess_ms > 0 and ours.bytes_sent > value.array.nbytes
    rest_spec = BackendSpec(kind, backend.rest, protocol="rest", model=kind, preprocess=preset)
    with make_client(rest_spec) as rest:
        if kind == "float16":  # TF Serving's JSON reader has no DT_HALF: said before sending
            with pytest.raises(ServingError) as refused:
                rest.metadata()
            assert refused.value.code == "UNIMPLEMENTED" and "over gRPC" in refused.value.message
            return
        rest_sig = rest.metadata()
        over_rest = rest.predict(rest_sig.input.make(encoded, Preprocessing(preset)), rest_sig)
    assert [p.label for p in over_rest.top5] == [p.label for p in ours.top5]
    np.testing.assert_allclose(
        [p.score for p in over_rest.top5], [p.score for p in ours.top5], rtol=1e-5
    )


def test_a_keras_export_through_run_over_grpc_and_rest(served, cat, tmp_path):
    """`tfcompare run` on a Keras `Model.export()` (serving_default, input keras_tensor float32
    [-1, 32, 32, 3]): both protocols measured, the status says what the model takes and how the
    images were preprocessed, preprocessing time is reported apart, the fixed size makes every
    variant's tensor the same size on the wire."""
    b = served["nhwc-float32"]
    out = tmp_path / "run.json"
    proc = _tfcompare(
        "run",
        str(cat),
        "-b",
        f"g={b.grpc}/nhwc-float32",
        "-b",
        f"r={b.rest}/nhwc-float32,protocol=rest",
        "--preprocess",
        "tf",
        "--sizes",
        "256,128",
        "--formats",
        "jpeg,png",
        "--repeats",
        "2",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "takes float32 32×32×3 NHWC · preprocess tf (as set)" in proc.stdout
    doc = json.loads(out.read_text())
    measured = [r for r in doc["requests"] if r["ok"]]
    assert {r["protocol"] for r in measured} == {"grpc", "rest"} and len(measured) == 2 * 5 * 2
    assert all(r["preprocess_ms"] > 0 for r in measured)
    sent = {r["bytes"] for r in measured if r["protocol"] == "grpc"}
    assert len(sent) == 1  # every variant becomes the model's 32×32×3 float32 tensor
    for backend in ("g", "r"):
        tops = {r["variant"]: r["top5"][0][0] for r in measured if r["backend"] == backend}
        assert len(tops) == 5
    g = {(r["variant"], r["top5"][0][0]) for r in measured if r["backend"] == "g"}
    r = {(r["variant"], r["top5"][0][0]) for r in measured if r["backend"] == "r"}
    assert g == r  # the same tensors, the same answers over both protocols
    rows = {s["backend"]: s for s in doc["summary"] if s["variant"] == "original"}
    assert rows["g"]["preprocess_ms"] is not None and rows["g"]["top1_agree"] is not None
    timings = {t["name"]: t for t in doc["backends"]}
    assert "takes float32 32×32×3 NHWC" in timings["g"]["input"]


def test_auto_preprocessing_says_what_it_chose(served, cat):
    backend = f"a={served['nhwc-float32'].grpc}/nhwc-float32"
    proc = _tfcompare(
        "run", str(cat), "-b", backend, *"--sizes 128 --formats jpeg --repeats 1".split()
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "preprocess" in x and "auto:" in x)
    tried = [p for p in ("raw", "unit", "tf", "caffe", "torch") if f" {p} 0." in line]
    assert len(tried) == 4  # the chosen preset is named first, the four others with their scores


def test_a_dynamic_size_model_gets_each_variant_at_its_own_size(served, cat, tmp_path):
    out = tmp_path / "dyn.json"
    b = served["dynamic"]
    proc = _tfcompare(
        "run",
        str(cat),
        "-b",
        f"d={b.grpc}/dynamic,preprocess=unit",
        *"--sizes 256,128 --formats png --repeats 1 --json".split(),
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    sent = {r["variant"]: r["bytes"] for r in json.loads(out.read_text())["requests"] if r["ok"]}
    assert sent["original"] > sent["256-png"] > sent["128-png"]
    assert sent["256-png"] == pytest.approx(4 * sent["128-png"], rel=0.01)


def test_ids_1001_labels_files_and_label_warnings(served, cat, tmp_path):
    """A 1001-class model is named from ImageNet shifted by the background class; a 10-class
    model with a labels file shows those names; a file of the wrong count is a warning on the
    backend's status, a binary one refuses the run."""
    ids = served["ids-1001"]
    with make_client(BackendSpec("ids", ids.grpc, model="ids-1001", preprocess="tf")) as client:
        sig = client.metadata()
        assert sig.num_classes == 1001
        out = client.predict(sig.input.make(cat.read_bytes(), Preprocessing("tf")), sig)
        answer = _stub_answer(
            ids.grpc,
            "ids-1001",
            sig.input_key,
            sig.input.make(cat.read_bytes(), Preprocessing("tf")).array,
        )
    scores = next(iter(answer.values())).reshape(-1)
    best = int(np.argmax(scores))
    assert out.top5[0].label == ("background" if best == 0 else imagenet_labels()[best - 1])

    names = tmp_path / "ten.txt"
    names.write_text("\n".join(f"thing-{i}" for i in range(10)) + "\n")
    ten = served["classes-10"]
    result = tmp_path / "ten.json"
    proc = _tfcompare(
        "run",
        str(cat),
        "-b",
        f"t={ten.grpc}/classes-10,preprocess=tf,labels={names}",
        *"--sizes 128 --formats jpeg --repeats 1 --json".split(),
        str(result),
    )
    assert proc.returncode == 0, proc.stderr
    labels = {p[0] for r in json.loads(result.read_text())["requests"] for p in r["top5"]}
    assert labels and all(label.startswith("thing-") for label in labels)

    short = tmp_path / "three.txt"
    short.write_text("a\nb\nc\n")
    from tfcompare.runner.probe import probe_backend

    status = probe_backend(BackendSpec("t", ten.grpc, model="classes-10", labels=str(short)))
    assert status.ready and "three.txt has 3 names but the model answers 10 classes" in status.text

    binary = tmp_path / "labels.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    proc = _tfcompare("run", str(cat), "-b", f"t={ten.grpc}/classes-10", "--labels", str(binary))
    assert proc.returncode == 2 and "binary, not text" in proc.stderr


def test_models_tfcompare_cannot_measure_say_why(served, cat):
    """Two image-like inputs: refused at the check, naming them; a feature-map answer: each
    request fails naming the output's shape (never 160 'classes')."""
    two = served["two-images"]
    proc = _tfcompare("run", str(cat), "-b", f"two={two.grpc}/two-images")
    assert proc.returncode != 0
    assert "2 image-like inputs (image_a, image_b)" in proc.stderr + proc.stdout
    fmap = served["feature-map"]
    with make_client(BackendSpec("f", fmap.grpc, model="feature-map", preprocess="tf")) as client:
        sig = client.metadata()
        with pytest.raises(ServingError) as err:
            client.predict(sig.input.make(cat.read_bytes(), Preprocessing("tf")), sig)
    assert err.value.code == "INVALID_ARGUMENT"
    assert "feature_map [1, 4, 4, 10]: not one score per class" in err.value.message


def test_load_sweeps_a_tensor_model(served, cat, tmp_path):
    out = tmp_path / "load.json"
    b = served["nchw-float32"]
    proc = _tfcompare(
        "load",
        str(cat),
        "-b",
        f"n={b.grpc}/nchw-float32,preprocess=torch",
        "-b",
        f"nr={b.rest}/nchw-float32,protocol=rest,preprocess=torch",
        *"--concurrency 1,2 --window-s 0.5 --max-windows 4 --variants original,128-jpeg".split(),
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    levels = doc["levels"]
    assert {lv["backend"] for lv in levels} == {"n", "nr"}
    assert all(lv["errors"] == {} and lv["throughput"] > 0 for lv in levels)
    assert any("takes float32 3×32×32 NCHW · preprocess torch" in m for m in doc["messages"])


def test_the_window_runs_a_tensor_model(served, qtbot, tmp_path):
    """The window with a tensor backend: Run fills the table and the top-5, and the backend's
    line says what the model takes."""
    from gui_helpers import make_window, small_photos

    from tfcompare.settings import RunSettings

    window = make_window(qtbot)
    b = served["nhwc-float32"]
    window.set_backends(
        [BackendSpec.parse(f"k={b.grpc}/nhwc-float32,preprocess=tf")], persist=False
    )
    window.settings_panel.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), repeats=2))
    window.controller.add_paths(small_photos(tmp_path / "img"))
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    with qtbot.waitSignal(window.run_finished, timeout=120_000) as blocker:
        assert window.start_run()
    assert blocker.args == [False]
    result = window.store.result
    assert result.requests and all(r.ok for r in result.requests)
    assert all(r.preprocess_ms is not None for r in result.requests)
    assert window.table.model.rowCount() == len(result.summary) == 4
    assert set(window.top5.shown) == {"k"}
    state, text = window.controller.status_of("k")
    assert "takes float32 32×32×3 NHWC" in text
