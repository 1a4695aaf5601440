"""Real local TF-Serving-compatible backends for tests: export a model, start/stop/kill/pause servers.

Everything runs in subprocesses (``python -m tfcompare ...``) so the test process never imports
TensorFlow. Servers bind 127.0.0.1 on free ports and exit with the test process.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

STARTUP_TIMEOUT = 180.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def export_model(
    name: str, out_base: Path, *, version: int = 1, extra_args: Sequence[str] = ()
) -> Path:
    """Export a registered model into ``out_base/<version>`` through the CLI; returns ``out_base``."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "export-model",
            name,
            str(out_base),
            "--version",
            str(version),
            *extra_args,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"export-model {name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return Path(out_base)


class LocalBackend:
    """A running ``tfcompare serve`` subprocess; ``grpc``/``rest`` are ``127.0.0.1:PORT``."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, model_name: str | None) -> None:
        self.proc = proc
        self.log_path = log_path
        self.model_name = model_name
        self.grpc: str = ""
        self.rest: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> LocalBackend:
        """Block until the server prints its READY line (raises with the log tail otherwise)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise RuntimeError(
                        f"backend not ready after {timeout:.0f} s:\n{self.log_tail()}"
                    )
                if not sel.select(min(left, 1.0)):
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    self.proc.wait(10)
                    raise RuntimeError(
                        f"backend exited with {self.proc.returncode} before READY:\n{self.log_tail()}"
                    )
                if line.startswith("READY "):
                    fields = dict(part.split("=", 1) for part in line.split()[1:])
                    self.grpc = fields["grpc"]
                    self.rest = None if fields.get("rest", "-") == "-" else fields["rest"]
                    return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the backend disappears mid-run, like a crashed pod."""
        if self.alive():
            self.resume()
            self.proc.kill()
        self.proc.wait(30)

    def pause(self) -> None:
        """SIGSTOP: the backend hangs (connections stay open, nothing answers)."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL if it does not exit in time); returns the exit status."""
        if self.alive():
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalBackend(grpc={self.grpc!r}, rest={self.rest!r}, pid={self.proc.pid})"


def launch_backend(
    model_base: Path | str,
    *,
    threads: int | None = 1,
    rest: bool = False,
    model_name: str | None = "tiny",
    extra_args: Sequence[str] = (),
    log_dir: Path | None = None,
) -> LocalBackend:
    """Start ``tfcompare serve`` without waiting for it (call ``wait_ready``).

    ``model_name=None`` lets the server use its default (the model directory's name).
    """
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tfcompare-backend-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, log_name = tempfile.mkstemp(
        prefix=f"serve-{model_name or 'model'}-", suffix=".log", dir=log_dir
    )
    cmd = [
        sys.executable,
        "-m",
        "tfcompare",
        "serve",
        str(model_base),
        "--port",
        "0",
        "--exit-with-parent",
    ]
    if model_name:
        cmd += ["--model-name", model_name]
    if threads:
        cmd += ["--threads", str(threads)]
    if rest:
        cmd += ["--rest-port", "0"]
    cmd += list(extra_args)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=_env()
        )
    return LocalBackend(proc, Path(log_name), model_name)


def start_backend(
    model_base: Path | str,
    *,
    threads: int | None = 1,
    rest: bool = False,
    model_name: str | None = "tiny",
    extra_args: Sequence[str] = (),
    log_dir: Path | None = None,
) -> LocalBackend:
    """Start a backend and wait until it is ready to answer."""
    backend = launch_backend(
        model_base,
        threads=threads,
        rest=rest,
        model_name=model_name,
        extra_args=extra_args,
        log_dir=log_dir,
    )
    return backend.wait_ready()


def start_backends(
    specs: Sequence[dict], model_base: Path | str | None = None
) -> list[LocalBackend]:
    """Start several backends in parallel; each spec holds ``launch_backend`` keyword arguments
    (``model_base`` in a spec overrides the shared one)."""
    launched = []
    try:
        for spec in specs:
            spec = dict(spec)
            launched.append(launch_backend(spec.pop("model_base", model_base), **spec))
        return [backend.wait_ready() for backend in launched]
    except BaseException:
        for backend in launched:
            backend.kill()
        raise


class CpuLimit:
    """Hold a backend to a share of one CPU, the way a Kubernetes CPU limit (a CFS quota) does:
    in every ``period_s`` it may run for ``share × period_s`` and is then stopped until the next
    period. A context manager; the backend runs freely again afterwards."""

    def __init__(self, backend: LocalBackend, share: float, period_s: float = 0.01) -> None:
        import threading

        self.backend, self.share, self.period_s = backend, share, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-limit", daemon=True)

    def _loop(self) -> None:
        run, stopped = self.share * self.period_s, (1 - self.share) * self.period_s
        while not self._stop.is_set():  # the limiter's duty cycle: its sleeps are what it does
            self.backend.resume()
            time.sleep(run)
            if self._stop.is_set():
                break
            self.backend.pause()
            time.sleep(stopped)
        self.backend.resume()

    def __enter__(self) -> CpuLimit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.backend.resume()


_WARMUP_WRITER = """
import sys, numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
path, count, side, key, signature = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
y, x = np.mgrid[0:side, 0:side]
image = np.stack([x * 255 // side, y * 255 // side, (x ^ y) & 255], axis=-1).astype(np.uint8)
png = tf.io.encode_png(image).numpy()  # smooth: a small file that still takes long to decode
with tf.io.TFRecordWriter(path) as w:
    for _ in range(count):
        log = prediction_log_pb2.PredictionLog()
        request = log.predict_log.request
        request.model_spec.signature_name = signature
        request.inputs[key].CopyFrom(tf.make_tensor_proto([png]))
        w.write(log.SerializeToString())
"""


def slow_loading_model(
    model_base: Path,
    out_base: Path,
    *,
    records: int = 100,
    side: int = 2048,
    key: str = "images",
    signature: str = "predict_images",
) -> Path:
    """A copy of ``model_base`` whose version ships TF Serving warm-up records
    (``assets.extra/tf_serving_warmup_requests``): ``records`` ``side``-px PNGs, which the
    server replays before its model is AVAILABLE, so it answers LOADING for a while after its
    port opens — as a real server does while it loads a large model."""
    import shutil

    src = next(p for p in sorted(Path(model_base).iterdir()) if p.name.isdigit())
    shutil.copytree(src, Path(out_base) / src.name)
    extra = Path(out_base) / src.name / "assets.extra"
    extra.mkdir(exist_ok=True)
    target = extra / "tf_serving_warmup_requests"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _WARMUP_WRITER,
            str(target),
            str(records),
            str(side),
            key,
            signature,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"writing warm-up records failed:\n{proc.stderr[-3000:]}")
    return Path(out_base)


def free_port() -> int:
    """A loopback port nothing listens on (for a server given a fixed --port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
