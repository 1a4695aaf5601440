"""The Keras export, a uint8 model and a Torch-style (NCHW, mean/std) model each run in
``tfcompare run``, ``load``, the window and the demo, with the correct top-5 names from a labels
file: the names are those of the class ids the official stubs get for the same tensor."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import numpy as np
import pytest
from images import photo, save

from tfcompare.imaging.preprocess import Preprocessing
from tfcompare.serving import make_client
from tfcompare.serving._protos import prediction_service_pb2_grpc
from tfcompare.serving.backend_spec import BackendSpec

pytestmark = pytest.mark.slow

# kind → the preprocessing its model wants (None: the default, raw for uint8)
KINDS = {"nhwc-float32": "tf", "uint8": None, "nchw-float32": "torch"}


@pytest.fixture(scope="module")
def served(tensor_model_base, tmp_path_factory):
    from tensor_models import start_kinds

    served = start_kinds(KINDS, tensor_model_base, tmp_path_factory.mktemp("everywhere-logs"))
    yield served
    for backend in served.values():
        backend.stop()


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "names.txt"
    path.write_text("\n".join(f"label-{i:03d}" for i in range(1000)) + "\n")
    return path


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return save(photo("chelsea"), tmp_path_factory.mktemp("everywhere-photos") / "cat.jpg")


def _expected(backend, kind, preset, cat) -> list[str]:
    """The labels of the top-5 class ids the official stubs get for tfcompare's tensor."""
    from tensor_models import answer_array, predict_request

    spec = BackendSpec(kind, backend.grpc, model=kind)
    with make_client(spec) as client:
        sig = client.metadata()
        value = sig.input.make(cat.read_bytes(), Preprocessing(preset or "raw"))
    with grpc.insecure_channel(backend.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(kind, {value.key: value.array}), timeout=60)
    [scores] = [answer_array(v).reshape(-1) for v in response.outputs.values()]
    return [f"label-{i:03d}" for i in np.argsort(-scores, kind="stable")[:5]]


def _tfcompare(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _spec_options(preset) -> str:
    return f",preprocess={preset}" if preset else ""


@pytest.mark.parametrize("kind", list(KINDS))
def test_run_load_window_and_demo_name_the_classes_from_a_labels_file(
    kind, served, labels, cat, tmp_path, qtbot
):
    preset = KINDS[kind]
    backend = served[kind]
    expected = _expected(backend, kind, preset, cat)
    options = _spec_options(preset)

    # run, over gRPC and REST
    out = tmp_path / "run.json"
    proc = _tfcompare(
        "run",
        cat,
        "-b",
        f"g={backend.grpc}/{kind}{options}",
        "-b",
        f"r={backend.rest}/{kind},protocol=rest{options}",
        "--labels",
        labels,
        *"--sizes 128 --formats jpeg --repeats 1 --json".split(),
        out,
    )
    assert proc.returncode == 0, proc.stderr
    originals = [r for r in json.loads(out.read_text())["requests"] if r["variant"] == "original"]
    assert originals and all(r["ok"] for r in originals)
    for r in originals:
        assert [p[0] for p in r["top5"]] == expected, r["backend"]

    # load: a short sweep, every request answered
    sweep = tmp_path / "load.json"
    proc = _tfcompare(
        "load",
        cat,
        "-b",
        f"g={backend.grpc}/{kind}{options}",
        "--labels",
        labels,
        *"--variants original --concurrency 1 --window-s 0.5 --max-windows 3 --json".split(),
        sweep,
    )
    assert proc.returncode == 0, proc.stderr
    levels = json.loads(sweep.read_text())["levels"]
    assert levels and all(lv["errors"] == {} and lv["throughput"] > 0 for lv in levels)

    # the window: Run, then the top-5 chart shows the file's names
    from gui_helpers import make_window

    from tfcompare.settings import RunSettings

    window = make_window(qtbot)
    spec = BackendSpec.parse(f"w={backend.grpc}/{kind}{options},labels={labels}")
    window.set_backends([spec], persist=False)
    window.settings_panel.set_settings(RunSettings(sizes=(128,), formats=("jpeg",), repeats=1))
    window.controller.add_paths([cat])
    qtbot.waitUntil(lambda: all(e.probed for e in window.controller.images), timeout=10_000)
    with qtbot.waitSignal(window.run_finished, timeout=120_000) as blocker:
        assert window.start_run()
    assert blocker.args == [False]
    window.controller.select("cat.jpg", "original")
    window.refresh_views(force=True)
    assert [p.label for p in window.top5.shown["w"]] == expected

    # the demo, serving this model instead of its own
    demo = tmp_path / "demo.json"
    proc = _tfcompare(
        "demo",
        "--model",
        backend_base(backend),
        "--no-gui",
        "--labels",
        labels,
        *(["--preprocess", preset] if preset else []),
        "--images",
        cat,
        *"--sizes 128 --formats jpeg --repeats 1 --json".split(),
        demo,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(demo.read_text())
    originals = [r for r in data["requests"] if r["variant"] == "original"]
    assert {r["backend"] for r in originals} >= {"cpu-1"} and all(r["ok"] for r in originals)
    for r in originals:
        assert [p[0] for p in r["top5"]] == expected, r["backend"]


def backend_base(backend) -> str:
    """The model base path a running test backend serves (its command line's MODEL)."""
    args = backend.proc.args
    return str(args[args.index("serve") + 1])
