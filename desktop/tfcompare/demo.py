"""Local backends for ``tfcompare demo``: build the model once, start servers, stop them reliably.

The demo compares the same model served with one CPU thread and with all cores (the original
experiment's 1-CPU vs many-CPU question), the second also over REST, and beside them the same
network taking a decoded tensor (``efficientnet-lite0-tensor``, all cores): "send the JPEG, the
server decodes" next to "the client decodes, crops, resizes, scales and sends a tensor". Every server also opens a
REST port for its Prometheus metrics and the backends are given those metrics URLs, so server,
model and path time show with no cluster. Servers are child processes (``python -m tfcompare serve``) started with ``--exit-with-parent``, so they go away when the demo
process dies, even by SIGKILL; on a normal exit or a window close :meth:`LocalBackends.stop`
stops them. This module never imports TensorFlow: the model is built in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.server_metrics import METRICS_PATH

DEMO_MODEL = "efficientnet-lite0"
# The same network taking a float32 224×224×3 tensor scaled to −1…1 (the "tf" preset) after a
# centre crop of 224/256 — what the bytes model's own graph does to a decoded JPEG.
TENSOR_MODEL = "efficientnet-lite0-tensor"
TENSOR_PREPROCESS, TENSOR_CROP = "tf", 0.875
STARTUP_TIMEOUT_S = 180.0

Log = Callable[[str], None]


class DemoError(Exception):
    """Something the demo cannot work around; the message is meant for the user."""


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# The demo opens on a photo its model gets clearly right (EfficientNet-Lite0: espresso, 95 %);
# the astronaut, first in name order, comes out "football helmet" at 15 %.
OPENING_PHOTO = "coffee.jpg"


def sample_images() -> list[Path]:
    """The photos shipped in ``resources/samples`` (see its README for sources and licences),
    the one the window opens on first."""
    folder = Path(str(resources.files("tfcompare.resources") / "samples"))
    files = sorted(
        (p for p in folder.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}),
        key=lambda p: (p.name != OPENING_PHOTO, p.name),
    )
    if not files:
        raise DemoError(f"no sample photos found in {folder}; pass your own with --images")
    return files


def _prefixed(log: Log, prefix: str) -> Log:
    return lambda text: log(f"{prefix}: {text}")


def ensure_model(name_or_dir: str, log: Log = _stderr) -> Path:
    """The model base path; a registered model is built on first use into the data directory.

    Building runs ``tfcompare export-model`` in a subprocess (no network needed) and is reused on
    later runs.
    """
    from tfcompare import paths
    from tfcompare.models import MODELS, ModelError, resolve_model, versions

    if name_or_dir in MODELS and not Path(name_or_dir).exists():
        base = paths.models_dir() / name_or_dir
        if versions(base):
            log(f"model: {name_or_dir} (built earlier, in {base})")
        else:
            log(f"model: building {name_or_dir} into {base} (first use only; no network needed)…")
    started = time.perf_counter()
    try:
        base = resolve_model(name_or_dir, in_process=False)
    except ModelError as exc:
        raise DemoError(str(exc)) from None
    if time.perf_counter() - started > 1.0:
        log(f"model: built in {time.perf_counter() - started:.1f} s")
    return base


@dataclass(frozen=True)
class ServerPlan:
    """One server to start: a label (the backend name), TF threads, whether REST is on too,
    whether it batches concurrent requests (TF Serving's --enable_batching), and the model when
    it is not the demo's own (a registered name, built on first use) with the preprocessing its
    backend asks for (tensor models)."""

    label: str
    threads: int
    rest: bool = False
    batching: bool = False
    model: str | None = None
    preprocess: str | None = None
    crop: float | None = None


# The demo's batching backend: up to 8 images per model call, waiting at most 5 ms for them;
# num_batch_threads is TF Serving's default, one batch thread per CPU of the backend, so a batch
# can be prepared and answered while another runs.
DEMO_BATCHING = """max_batch_size { value: 8 }
batch_timeout_micros { value: 5000 }
max_enqueued_batches { value: 100 }
"""


def capacity_plan(cores: int | None = None) -> list[ServerPlan]:
    """For capacity sweeps: 1 thread vs all cores, and all cores with batching beside it."""
    cores = cores or os.cpu_count() or 1
    many = f"cpu-{cores}" if cores > 1 else "cpu-all"
    return [
        ServerPlan("cpu-1", 1),
        ServerPlan(many, cores),
        ServerPlan(f"{many}-batching", cores, batching=True),
    ]


def default_plan(cores: int | None = None, *, tensor: bool = True) -> list[ServerPlan]:
    """1 thread vs all cores (the latter also over REST), and with ``tensor`` the tensor-input
    twin of the model on all cores."""
    cores = cores or os.cpu_count() or 1
    many = f"cpu-{cores}" if cores > 1 else "cpu-all"
    plan = [ServerPlan("cpu-1", 1), ServerPlan(many, cores, rest=True)]
    if tensor:
        plan.append(
            ServerPlan(
                f"{many}-tensor",
                cores,
                model=TENSOR_MODEL,
                preprocess=TENSOR_PREPROCESS,
                crop=TENSOR_CROP,
            )
        )
    return plan


@dataclass
class LocalServer:
    plan: ServerPlan
    proc: subprocess.Popen
    log_path: Path
    grpc: str | None = None
    rest: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        keep = [x for x in text.splitlines() if "oneDNN" not in x and "cuda" not in x.lower()]
        return "\n".join(keep[-lines:])


class LocalBackends:
    """The demo's servers: ``start()`` → BackendSpecs, ``stop()`` (idempotent, thread-safe)."""

    def __init__(
        self,
        model_base: Path,
        model_name: str,
        plan: Sequence[ServerPlan] | None = None,
        *,
        log: Log = _stderr,
        log_dir: Path | None = None,
    ) -> None:
        from tfcompare import paths

        self.model_base = Path(model_base)
        self.model_name = model_name
        self.plan = list(plan or default_plan())
        self.log = log
        self.log_dir = log_dir or paths.data_dir() / "logs"
        self.servers: list[LocalServer] = []
        self._lock = threading.Lock()
        self._stopped = False

    def __enter__(self) -> LocalBackends:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _model(self, plan: ServerPlan) -> tuple[Path, str]:
        """(base path, name) of the model a server serves."""
        if plan.model is None:
            return self.model_base, self.model_name
        return ensure_model(plan.model, self.log), plan.model

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> list[BackendSpec]:
        """Start every server (in parallel), wait for READY and AVAILABLE; returns the backends."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        models = {plan.label: self._model(plan) for plan in self.plan}  # built before any start
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "PYTHONUNBUFFERED": "1",
        }
        for plan in self.plan:  # started from this (long-lived) thread, never a worker
            args = [
                sys.executable,
                "-m",
                "tfcompare",
                "serve",
                str(models[plan.label][0]),
                "--port",
                "0",
                "--rest-port",
                "0",  # REST backends and every server's metrics
                "--threads",
                str(plan.threads),
                "--model-name",
                models[plan.label][1],
                "--exit-with-parent",
            ]
            if plan.batching:
                params = self.log_dir / "demo-batching.txt"
                params.write_text(DEMO_BATCHING)
                args += ["--batching-parameters", str(params)]
            log_path = self.log_dir / f"demo-{plan.label}.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    args,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    text=True,
                )
            server = LocalServer(plan, proc, log_path)
            self.servers.append(server)
            threading.Thread(
                target=self._read_stdout,
                args=(server,),
                daemon=True,
                name=f"demo-{plan.label}-stdout",
            ).start()
            self.log(
                f"backend {plan.label}: starting (pid {proc.pid}, {plan.threads} thread"
                f"{'s' if plan.threads != 1 else ''}{', gRPC + REST' if plan.rest else ', gRPC'}"
                f"{', batching' if plan.batching else ''}"
                f"{f', model {plan.model}' if plan.model else ''})"
            )
        deadline = time.monotonic() + timeout_s
        for server in self.servers:
            while not server.ready.wait(0.2):
                if server.proc.poll() is not None:
                    raise DemoError(
                        f"backend {server.plan.label} exited with status "
                        f"{server.proc.returncode} while starting:\n{server.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"backend {server.plan.label} not ready after {timeout_s:.0f} s "
                        f"(log: {server.log_path}):\n{server.log_tail()}"
                    )
        specs = self.specs()
        self._wait_available(specs, deadline)
        for server in self.servers:
            where = (server.grpc or "") + (f", REST {server.rest}" if server.rest else "")
            where += f" (metrics http://{server.rest}{METRICS_PATH})" if server.rest else ""
            self.log(f"backend {server.plan.label}: AVAILABLE on {where}")
        return specs

    def specs(self, *, rest: bool = True, tensor: bool = True) -> list[BackendSpec]:
        """The backends: every server over gRPC, the REST ones over REST too (``rest``), the
        tensor-input servers (``tensor``)."""
        from tfcompare.serving.protocols import TF_SERVING_GRPC, TF_SERVING_REST

        out = []
        for server in self.servers:
            plan = server.plan
            if plan.model is not None and not tensor:
                continue
            metrics = f"http://{server.rest}{METRICS_PATH}" if server.rest else None
            base = BackendSpec(
                name=plan.label,
                target=server.grpc or "",
                protocol=TF_SERVING_GRPC.name,
                model=plan.model or self.model_name,
                metrics=metrics,
                preprocess=plan.preprocess,
                crop=plan.crop,
            )
            out.append(base)
            if rest and server.rest and plan.rest:
                out.append(
                    replace(
                        base,
                        name=f"{plan.label}-rest",
                        target=server.rest,
                        protocol=TF_SERVING_REST.name,
                    )
                )
        return out

    def _read_stdout(self, server: LocalServer) -> None:
        assert server.proc.stdout is not None
        for line in server.proc.stdout:  # keep draining so the pipe never fills
            if line.startswith("READY ") and not server.ready.is_set():
                fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
                server.grpc = fields.get("grpc")
                rest = fields.get("rest", "-")
                server.rest = None if rest == "-" else rest
                server.ready.set()

    def _wait_available(self, specs: list[BackendSpec], deadline: float) -> None:
        """Every backend AVAILABLE: the one backend probe, waiting while a model loads."""
        from tfcompare.runner.connection import open_connection
        from tfcompare.runner.probe import probe_until_ready

        for spec in specs:
            try:
                conn = open_connection(spec)
            except Exception as exc:  # noqa: BLE001 - the demo cannot go on without it
                raise DemoError(f"backend {spec.name}: cannot connect: {exc}") from None
            try:
                found = probe_until_ready(
                    spec,
                    conn,
                    max(0.0, deadline - time.monotonic()),
                    on_wait=_prefixed(self.log, f"backend {spec.name}"),
                )
            finally:
                conn.close()
            if not found.ready:
                raise DemoError(f"backend {spec.name} never became AVAILABLE: {found.text}")

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers]

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every server, SIGKILL what is still running after ``grace_s``."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        running = [s for s in self.servers if s.proc.poll() is None]
        for server in running:
            try:
                server.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        for server in running:
            try:
                server.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait(5)
        if running:
            self.log(f"stopped {len(running)} local backend{'s' if len(running) != 1 else ''}")
