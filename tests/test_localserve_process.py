"""`tfcompare serve` as a process: versions, labels, threads, clean exits, no orphans, clear errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import stub_client as sc
from backends import _env
from waiting import wait_for

pytestmark = pytest.mark.slow


def _compute_threads(pid: int) -> int:
    names = [p.read_text().strip() for p in Path(f"/proc/{pid}/task").glob("*/comm")]
    return sum(1 for n in names if n.startswith("tf_Compute"))


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # exited (a zombie waiting for init to reap it)


def _refused(target: str) -> bool:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def test_newest_version_labels_threads_and_sigterm(tiny_model, tmp_path, fresh_backend):
    base = tmp_path / "multi"
    for version in (1, 2):
        shutil.copytree(tiny_model / "1", base / str(version))
    (base / "notes").mkdir()  # non-numeric entries are ignored, like TF Serving
    backend = fresh_backend(
        model_base=base, threads=3, model_name=None, extra_args=["--version-label", "stable=2"]
    )
    data = sc.encode(sc.pattern())
    response = sc.predict(backend.grpc, sc.predict_request(data, model="multi"))
    assert response.model_spec.name == "multi" and response.model_spec.version.value == 2
    assert [s.version for s in sc.status(backend.grpc, "multi").model_version_status] == [2]
    assert (
        sc.predict(
            backend.grpc, sc.predict_request(data, model="multi", label="stable")
        ).model_spec.version.value
        == 2
    )
    err = sc.rpc_error(sc.predict, backend.grpc, sc.predict_request(data, model="multi", version=1))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert _compute_threads(backend.pid) == 3

    assert backend.stop() == 0  # SIGTERM: a clean exit of its own (stop() kills after 20 s: -9)
    assert _refused(backend.grpc)
    assert "stopping" in backend.log_tail()


def test_paused_backend_hangs_then_recovers_and_sigint_exits(fresh_backend):
    backend = fresh_backend(threads=1)
    request = sc.predict_request(sc.encode(sc.pattern()))
    backend.pause()  # SIGSTOP: a real hanging backend
    err = sc.rpc_error(sc.predict, backend.grpc, request, 1.0)
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # the call's deadline ended it
    backend.resume()
    assert len(sc.predict(backend.grpc, request).outputs["classes"].string_val) == 5
    os.kill(backend.pid, signal.SIGINT)
    assert backend.proc.wait(15) == 0


def test_exit_with_parent_leaves_no_orphan(tiny_model, tmp_path):
    """A parent that dies (SIGKILL, no cleanup) takes its --exit-with-parent server with it."""
    parent_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'tfcompare', 'serve', {str(tiny_model)!r},"
        " '--port', '0', '--threads', '1', '--exit-with-parent'], stdout=subprocess.PIPE,"
        " stderr=subprocess.DEVNULL, text=True)\n"
        "print(p.pid, p.stdout.readline().strip(), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        pid_text, ready, target = parent.stdout.readline().split()[:3]
        server_pid = int(pid_text)
        assert ready == "READY"
        grpc_target = target.split("=", 1)[1]
        assert sc.status(grpc_target).model_version_status[0].state == 30
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 15
        while not _gone(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(server_pid), "server outlived its parent"
    finally:
        parent.kill()
        parent.wait(10)
        if "server_pid" in locals() and not _gone(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def _serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``tfcompare serve ARGS``; its stderr also lists every module it imported (-X importtime)."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tfcompare", "serve", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _imported_tensorflow(importtime: str) -> bool:
    """Whether ``-X importtime``'s lines name a module of the TensorFlow package."""
    return re.search(r"^import time:.*\| +tensorflow(\.|$)", importtime, re.MULTILINE) is not None


def test_unusable_model_directories_are_explained(tiny_model, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "empty"): "numbered",
        str(tmp_path / "file"): "not a directory",
        str(tiny_model / "1"): "numbered versions",
    }
    for path, text in cases.items():
        proc = _serve(path, "--port", "0")
        assert proc.returncode == 1, (path, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == ""
        assert not _imported_tensorflow(proc.stderr), path  # rejected before TensorFlow loads
    proc = _serve(str(tiny_model), "--threads", "0")
    assert proc.returncode == 2 and "--threads" in proc.stderr


def test_port_in_use_is_explained(tiny_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(str(tiny_model), "--port", str(port))
    assert proc.returncode == 1 and f"127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "READY" not in proc.stdout


def test_serve_registered_name_builds_it_first(fresh_backend, _isolated_home):
    """`tfcompare serve tiny` builds the model into the user's models dir, threads still applied."""
    backend = fresh_backend(model_base="tiny", threads=1, model_name=None)
    assert (_isolated_home / "data" / "models" / "tiny" / "1" / "saved_model.pb").is_file()
    response = sc.predict(backend.grpc, sc.predict_request(sc.encode(sc.pattern())))
    assert response.model_spec.name == "tiny" and len(response.outputs["classes"].string_val) == 5
    assert _compute_threads(backend.pid) == 1


def test_corrupt_saved_model_is_explained(tmp_path):
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"\x08\xff\xff garbage")
    proc = _serve(str(tmp_path / "broken"), "--port", "0")
    assert proc.returncode == 1 and "cannot load the SavedModel" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_model_warmup_records_are_replayed(tiny_model, tmp_path, fresh_backend):
    """assets.extra/tf_serving_warmup_requests (TF Serving's warm-up format) runs before READY."""
    import tensorflow as tf  # the stubs already loaded it in this process; used to write TFRecords
    from tensorflow_serving.apis import prediction_log_pb2

    base = tmp_path / "warm"
    shutil.copytree(tiny_model / "1", base / "1")
    (base / "1" / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(base / "1" / "assets.extra" / "tf_serving_warmup_requests")) as w:
        for seed in range(3):
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(
                sc.predict_request(sc.encode(sc.pattern(seed=seed)), signature="predict_images")
            )
            w.write(log.SerializeToString())
    backend = fresh_backend(model_base=base, threads=1)
    assert "warmed up with 3 request(s)" in backend.log_tail()
    assert sc.status(backend.grpc).model_version_status[0].state == 30


_ABSL_LINE = re.compile(r"^[IWE]\d{4} [\d:.]+\s+\d+ \S+\] |^WARNING: All log messages before absl")


def test_startup_noise_is_hidden_unless_verbose(backend_pair, fresh_backend):
    """TensorFlow's start-up chatter (oneDNN, CUDA probing, absl) stays off stderr even though
    TF_CPP_MIN_LOG_LEVEL=2 does not silence it; --verbose shows it again."""
    verbose = fresh_backend(threads=1, extra_args=["--verbose"])
    assert sc.status(verbose.grpc).model_version_status[0].state == 30
    log = backend_pair.one.log_path.read_text().splitlines()  # started without --verbose
    ready = next(i for i, line in enumerate(log) if "serving tiny version 1" in line)
    start_up = log[: ready + 1]  # what it printed until READY (later lines belong to other tests)
    assert [line for line in start_up if not line.startswith("tfcompare serve: ")] == [], start_up
    verbose_log = verbose.log_path.read_text().splitlines()
    assert any(_ABSL_LINE.match(line) for line in verbose_log), verbose_log


def _keras_in_module(out: Path, *, archive: bool) -> Path:
    """A small Keras 3 model behind an image-bytes signature, saved inside a tf.Module with
    tf.saved_model.save (``archive=False``) or with Keras's ExportArchive."""
    import keras
    import tensorflow as tf

    net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(3)])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def predict(images):
        sizes = tf.cast(tf.strings.length(images), tf.float32)[:, None]
        return {"scores": net(sizes)}

    if archive:
        export = keras.export.ExportArchive()
        export.track(net)
        export.add_endpoint("serving_default", predict)
        export.write_out(str(out / "1"), verbose=False)
    else:
        module = tf.Module()
        module.net = net
        tf.saved_model.save(module, str(out / "1"), signatures={"serving_default": predict})
    return out


def test_model_whose_graph_misses_its_variables_fails_as_in_tf_serving(tmp_path, fresh_backend):
    """TF Serving runs a SavedModel's graph in a session, where a Keras 3 model saved inside a
    tf.Module reads variables the restore never filled (tensorflow/serving#2250), although
    TensorFlow 2's Python loader runs it. tfcompare serve loads models the same way: the start
    fails at warm-up with TF Serving's error and what to do; the same model exported with
    Keras's ExportArchive serves."""
    proc = _serve(str(_keras_in_module(tmp_path / "module", archive=False)), "--port", "0")
    assert proc.returncode == 1 and "warm-up failed: Could not find variable" in proc.stderr, (
        proc.stderr
    )
    assert "keras.export.ExportArchive" in proc.stderr and "Traceback" not in proc.stderr
    backend = fresh_backend(
        model_base=_keras_in_module(tmp_path / "archive", archive=True), threads=1
    )
    response = sc.predict(backend.grpc, sc.predict_request([b"abcd", b"ab"]))
    assert sc.array(response.outputs["scores"]).shape == (2, 3)


def test_stale_build_in_the_models_dir_says_to_remove_it(_isolated_home):
    """A registered model built by an earlier release with the export TF Serving cannot run (as
    inception-v3 was) is in tfcompare's models dir: the failed start says to remove it."""
    _keras_in_module(_isolated_home / "data" / "models" / "inception-v3", archive=False)
    proc = _serve("inception-v3", "--port", "0")
    assert proc.returncode == 1 and "Could not find variable" in proc.stderr, proc.stderr
    base = _isolated_home / "data" / "models" / "inception-v3"
    assert f"inception-v3 was built by an earlier tfcompare: remove {base}" in proc.stderr


def _request_counts(rest: str) -> dict[str, float]:
    """TF Serving's request_count by status, from the server's Prometheus page."""
    import urllib.request

    with urllib.request.urlopen(f"http://{rest}/monitoring/prometheus/metrics", timeout=10) as r:
        page = r.read().decode()
    counts = {}
    for line in page.splitlines():
        found = re.match(r':tensorflow:serving:request_count\{.*status="(\w+)".*\} (\S+)$', line)
        if found:
            counts[found[1]] = counts.get(found[1], 0) + float(found[2])
    return counts


def test_grpc_deadline_bounds_the_model_run(fresh_backend):
    """TF Serving bounds a Predict's session run by the call's gRPC deadline: a run still going
    when the deadline passes is cancelled and counted DEADLINE_EXCEEDED, instead of running to
    the end and being counted OK for an answer the client no longer waits for."""
    import grpc

    backend = fresh_backend(threads=1, extra_args=["--rest-port", "0"])
    big = sc.predict_request([sc.encode(sc.pattern(1280, 960, seed=s)) for s in range(40)])
    started = time.monotonic()
    sc.predict(backend.grpc, big)  # no deadline: runs to the end
    full = time.monotonic() - started  # how long the run takes here: the deadline is a quarter
    with pytest.raises(grpc.RpcError) as cut:
        sc.predict(backend.grpc, big, timeout=full / 4)
    assert cut.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the server counts the call when its run ends
    wait_for(lambda: sum(_request_counts(backend.rest).values()) >= 2, 30, "both calls counted")
    assert _request_counts(backend.rest) == {"OK": 1, "DEADLINE_EXCEEDED": 1}


def test_rest_api_timeout_bounds_the_model_run(fresh_backend):
    """--rest-api-timeout-ms is TF Serving's --rest_api_timeout_in_ms: a REST Predict whose model
    run takes longer is cancelled and answered 504 with TF Serving's error body."""
    import base64
    import json
    import urllib.error
    import urllib.request

    backend = fresh_backend(
        threads=1, extra_args=["--rest-port", "0", "--rest-api-timeout-ms", "20"]
    )
    images = [sc.encode(sc.pattern(1280, 960, seed=s)) for s in range(40)]
    body = json.dumps({"instances": [{"b64": base64.b64encode(d).decode()} for d in images]})
    request = urllib.request.Request(
        f"http://{backend.rest}/v1/models/tiny:predict", data=body.encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as cut:
        urllib.request.urlopen(request, timeout=60)
    assert cut.value.code == 504
    assert "error" in json.loads(cut.value.read()), 'TF Serving\'s {"error": …} body'
    assert _request_counts(backend.rest) == {"DEADLINE_EXCEEDED": 1}
