"""Real Open Inference Protocol servers for tests: Seldon's MLServer and KServe's Python model
server, serving the tests' classifier (``tests/oip_models/``) on 127.0.0.1.

Each server runs from its own virtual environment (their pins conflict with each other and with
TensorFlow), made by ``scripts/setup.sh`` under ``.venv/test-envs/NAME`` and reused; nothing is
downloaded while a test runs, and a test that finds an environment missing fails saying to run
the script. Servers start as subprocesses on free ports; readiness is polled; ``stop`` ends them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(__file__).resolve().parent / "oip_models"
TEST_ENVS = ROOT / ".venv" / "test-envs"
STARTUP_TIMEOUT = 120.0

sys.path.insert(0, str(MODELS_DIR))
import classifier  # noqa: E402  (NumPy + Pillow only: the same network the servers run)


def env_python(name: str) -> Path:
    """The interpreter of test environment ``name``; fails the test when it is missing."""
    python = TEST_ENVS / name / "bin" / "python"
    if not python.is_file():
        pytest.fail(
            f"the '{name}' test environment ({python.parent.parent}) is missing: "
            "run scripts/setup.sh",
            pytrace=False,
        )
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_classifier(out: Path) -> Path:
    """``out`` with ``classifier.npz`` and the Keras SavedModel ``tfs/1`` (TF Serving's model
    base is ``out / "tfs"``), built in a subprocess (TensorFlow never loads in pytest)."""
    proc = subprocess.run(
        [sys.executable, str(MODELS_DIR / "build_classifier.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building the classifier failed:\n{proc.stderr[-3000:]}")
    return out


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass
class OipServer:
    """A running server: ``http`` / ``grpc`` are ``127.0.0.1:PORT``; ``metrics`` its metrics
    page URL; ``models`` the names it serves."""

    kind: str
    proc: subprocess.Popen
    log_path: Path
    http: str
    grpc: str
    metrics: str
    models: tuple[str, ...]
    workdir: Path | None = field(default=None, repr=False)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> OipServer:
        """Poll until the server and every model say ready over HTTP and the gRPC port takes
        connections; raises with the log's tail when the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        urls = [f"http://{self.http}/v2/health/ready"] + [
            f"http://{self.http}/v2/models/{m}/ready" for m in self.models
        ]
        grpc_port = int(self.grpc.rsplit(":", 1)[1])
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            if all(_get(u) == 200 for u in urls) and _port_open(grpc_port):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.kind} not ready after {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pause(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> OipServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV")) and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["PYTHONPATH"] = str(MODELS_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _log(log_dir: Path | None, kind: str):
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"tfcompare-{kind}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{kind}-", suffix=".log", dir=log_dir)
    return os.fdopen(fd, "wb"), Path(name)


TENSOR_MODEL, BYTES_MODEL, PLAIN_MODEL = "classifier", "classifier-bytes", "classifier-plain"


def _tensor_meta(name: str) -> dict:
    return {
        "inputs": [{"name": classifier.INPUT, "datatype": "FP32", "shape": [-1, 32, 32, 3]}],
        "outputs": [{"name": classifier.OUTPUT, "datatype": "FP32", "shape": [-1, 1000]}],
    }


def launch_mlserver(
    weights: Path,
    *,
    models: Sequence[str] = (TENSOR_MODEL, BYTES_MODEL),
    version: str | None = "1",
    log_dir: Path | None = None,
    extra_settings: dict | None = None,
) -> OipServer:
    """Start MLServer (``mlserver start``) with the custom runtimes; call ``wait_ready``."""
    python = env_python("mlserver")
    root = Path(tempfile.mkdtemp(prefix="tfcompare-mlserver-"))
    http, grpc, metrics = free_port(), free_port(), free_port()
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http,
        "grpc_port": grpc,
        "metrics_port": metrics,
        # one process: these tests share two CPU cores (MLServer's default runs the models in
        # one worker process beside the server)
        "parallel_workers": 0,
        "metrics_dir": str(root / "metrics"),
        **(extra_settings or {}),
    }
    (root / "settings.json").write_text(json.dumps(settings))
    for name in models:
        folder = root / name
        folder.mkdir()
        if name == BYTES_MODEL:
            implementation = "mlserver_runtime.BytesClassifier"
            meta = {
                "inputs": [{"name": classifier.BYTES_INPUT, "datatype": "BYTES", "shape": [-1]}],
                "outputs": [{"name": classifier.OUTPUT, "datatype": "FP32", "shape": [-1, 1000]}],
            }
        else:
            implementation = "mlserver_runtime.TensorClassifier"
            meta = _tensor_meta(name)
        parameters = {"uri": str(weights)}
        if version is not None:
            parameters["version"] = version
        model = {"name": name, "implementation": implementation, "parameters": parameters, **meta}
        (folder / "model-settings.json").write_text(json.dumps(model))
    log, log_path = _log(log_dir, "mlserver")
    with log:
        proc = subprocess.Popen(
            [str(python), "-m", "mlserver.cli.main", "start", str(root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            cwd=root,
        )
    return OipServer(
        "MLServer",
        proc,
        log_path,
        http=f"127.0.0.1:{http}",
        grpc=f"127.0.0.1:{grpc}",
        metrics=f"http://127.0.0.1:{metrics}/metrics",
        models=tuple(models),
        workdir=root,
    )


def start_mlserver(weights: Path, **kwargs) -> OipServer:
    return launch_mlserver(weights, **kwargs).wait_ready()


def launch_kserve(weights: Path, *, log_dir: Path | None = None) -> OipServer:
    """Start KServe's model server with the classifier's three models; call ``wait_ready``."""
    python = env_python("kserve")
    http, grpc = free_port(), free_port()
    log, log_path = _log(log_dir, "kserve")
    with log:
        proc = subprocess.Popen(
            [
                str(python),
                str(MODELS_DIR / "kserve_server.py"),
                "--weights",
                str(weights),
                "--http_port",
                str(http),
                "--grpc_port",
                str(grpc),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
        )
    return OipServer(
        "KServe",
        proc,
        log_path,
        http=f"127.0.0.1:{http}",
        grpc=f"127.0.0.1:{grpc}",
        metrics=f"http://127.0.0.1:{http}/metrics",
        models=(TENSOR_MODEL, BYTES_MODEL, PLAIN_MODEL),
    )


def start_kserve(weights: Path, **kwargs) -> OipServer:
    return launch_kserve(weights, **kwargs).wait_ready()
